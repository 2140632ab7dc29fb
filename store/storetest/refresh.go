package storetest

import (
	"errors"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tokenserver/tokenserver/store"
)

// RefreshStores bundles what the refresh-token suite needs: families refer to
// a user and a client, which a backend may enforce with foreign keys, so the
// suite creates them through the same backend.
type RefreshStores struct {
	Users   store.UserStore
	Clients store.ClientStore
	Refresh store.RefreshTokenStore
}

// Lifetimes of the families the suite creates.
const (
	suiteIdleTTL     = 10 * time.Minute
	suiteAbsoluteTTL = time.Hour
)

// refreshFixture is one fresh store with a user and two clients.
type refreshFixture struct {
	RefreshStores
	user   store.User
	client store.Client
	other  store.Client // a second client of the same user
	// start is when the fixture's families begin; requests use times after it.
	start time.Time
}

func newRefreshFixture(t *testing.T, newStores func(*testing.T) RefreshStores) *refreshFixture {
	t.Helper()
	fx := &refreshFixture{RefreshStores: newStores(t), start: suiteNow()}
	fx.user = suiteCreateUser(t, fx.Users, "alice")
	fx.client = suiteClient(t, "web-app")
	fx.other = suiteClient(t, "other-app")
	suiteCreateClient(t, fx.Clients, fx.client)
	suiteCreateClient(t, fx.Clients, fx.other)
	return fx
}

// newFamily stores a family of user for client, created at fx.start, with
// the given absolute and idle lifetimes, and returns it with its first
// token's hash.
func (fx *refreshFixture) newFamily(t *testing.T, user store.User, clientID string, absolute, idle time.Duration) (store.RefreshFamily, store.RefreshToken) {
	t.Helper()
	f := store.RefreshFamily{
		ID:        suiteUUID(t),
		ClientID:  clientID,
		UserID:    user.ID,
		Username:  user.Username,
		Scope:     "read write",
		CreatedAt: fx.start,
		ExpiresAt: fx.start.Add(absolute),
	}
	tok := store.RefreshToken{
		Hash:          suiteTokenHash(t),
		FamilyID:      f.ID,
		IssuedAt:      fx.start,
		IdleExpiresAt: fx.start.Add(idle),
	}
	if err := fx.Refresh.CreateFamily(t.Context(), f, tok); err != nil {
		t.Fatalf("CreateFamily: %v", err)
	}
	return f, tok
}

// family is newFamily with the default user, client and lifetimes.
func (fx *refreshFixture) family(t *testing.T) (store.RefreshFamily, store.RefreshToken) {
	t.Helper()
	return fx.newFamily(t, fx.user, fx.client.ID, suiteAbsoluteTTL, suiteIdleTTL)
}

// rotateReq builds a request presenting oldHash at `at` with a fresh
// successor whose idle expiry is at + suiteIdleTTL.
func (fx *refreshFixture) rotateReq(t *testing.T, oldHash, clientID string, at time.Time, leeway time.Duration) store.RotateRequest {
	t.Helper()
	return store.RotateRequest{
		OldHash:  oldHash,
		ClientID: clientID,
		New: store.RefreshToken{
			Hash:          suiteTokenHash(t),
			IssuedAt:      at,
			IdleExpiresAt: at.Add(suiteIdleTTL),
		},
		Now:         at,
		ReuseLeeway: leeway,
	}
}

// rotate presents oldHash for the default client and checks the error;
// it returns the successor's hash.
func (fx *refreshFixture) rotate(t *testing.T, oldHash string, at time.Time, leeway time.Duration, want error) string {
	t.Helper()
	req := fx.rotateReq(t, oldHash, fx.client.ID, at, leeway)
	_, err := fx.Refresh.Rotate(t.Context(), req)
	suiteCheckErr(t, "Rotate", err, want)
	return req.New.Hash
}

// lookup returns a token and its family, failing the test on error.
func (fx *refreshFixture) lookup(t *testing.T, hash string) (store.RefreshToken, store.RefreshFamily) {
	t.Helper()
	tok, f, err := fx.Refresh.Lookup(t.Context(), hash)
	if err != nil {
		t.Fatalf("Lookup: %v", err)
	}
	return tok, f
}

// suiteTokenDiff describes how got differs from want, or returns "".
func suiteTokenDiff(got, want store.RefreshToken) string {
	d := suiteTimeDiff("IssuedAt", got.IssuedAt, want.IssuedAt) +
		suiteTimeDiff("IdleExpiresAt", got.IdleExpiresAt, want.IdleExpiresAt) +
		suiteTimeDiff("ConsumedAt", got.ConsumedAt, want.ConsumedAt)
	if got.Hash != want.Hash {
		d += "Hash differs; "
	}
	if got.FamilyID != want.FamilyID {
		d += "FamilyID = " + got.FamilyID + ", want " + want.FamilyID + "; "
	}
	if got.ReplacedBy != want.ReplacedBy {
		d += "ReplacedBy differs; "
	}
	return d
}

// suiteFamilyDiff describes how got differs from want, or returns "".
func suiteFamilyDiff(got, want store.RefreshFamily) string {
	d := suiteTimeDiff("CreatedAt", got.CreatedAt, want.CreatedAt) +
		suiteTimeDiff("ExpiresAt", got.ExpiresAt, want.ExpiresAt) +
		suiteTimeDiff("RevokedAt", got.RevokedAt, want.RevokedAt)
	got.CreatedAt, got.ExpiresAt, got.RevokedAt = time.Time{}, time.Time{}, time.Time{}
	want.CreatedAt, want.ExpiresAt, want.RevokedAt = time.Time{}, time.Time{}, time.Time{}
	if !reflect.DeepEqual(got, want) {
		d += "fields differ: got " + got.ID + "/" + got.ClientID + "/" + got.UserID + "/" + got.Username + "/" + got.Scope +
			", want " + want.ID + "/" + want.ClientID + "/" + want.UserID + "/" + want.Username + "/" + want.Scope
	}
	return d
}

// expectUnchanged fails unless the token and family still equal the given
// snapshots.
func (fx *refreshFixture) expectUnchanged(t *testing.T, tok store.RefreshToken, f store.RefreshFamily) {
	t.Helper()
	gotTok, gotFam := fx.lookup(t, tok.Hash)
	if d := suiteTokenDiff(gotTok, tok); d != "" {
		t.Errorf("token changed: %s", d)
	}
	if d := suiteFamilyDiff(gotFam, f); d != "" {
		t.Errorf("family changed: %s", d)
	}
}

// expectAbsent fails unless hash is unknown to the store.
func (fx *refreshFixture) expectAbsent(t *testing.T, hash, what string) {
	t.Helper()
	_, _, err := fx.Refresh.Lookup(t.Context(), hash)
	suiteCheckErr(t, "Lookup("+what+")", err, store.ErrNotFound)
}

// TestRefreshTokenStore runs the conformance suite for
// store.RefreshTokenStore. newStores must return fresh, empty stores that
// share one backend for each call.
func TestRefreshTokenStore(t *testing.T, newStores func(*testing.T) RefreshStores) {
	testRotateProfile(t, newStores)
	testCredentialEpoch(t, newStores)
	testDPoPBinding(t, newStores)
	t.Run("CreateFamilyAndLookup", func(t *testing.T) {
		fx := newRefreshFixture(t, newStores)
		f, tok := fx.family(t)
		gotTok, gotFam := fx.lookup(t, tok.Hash)
		if d := suiteTokenDiff(gotTok, tok); d != "" {
			t.Errorf("token: %s", d)
		}
		if d := suiteFamilyDiff(gotFam, f); d != "" {
			t.Errorf("family: %s", d)
		}
	})

	t.Run("CreateFamilyConflict", func(t *testing.T) {
		fx := newRefreshFixture(t, newStores)
		f, tok := fx.family(t)

		sameID := f
		fresh := store.RefreshToken{Hash: suiteTokenHash(t), FamilyID: f.ID, IssuedAt: fx.start, IdleExpiresAt: tok.IdleExpiresAt}
		suiteCheckErr(t, "CreateFamily(same family id)", fx.Refresh.CreateFamily(t.Context(), sameID, fresh), store.ErrConflict)
		fx.expectAbsent(t, fresh.Hash, "token of the rejected family")

		sameHash := f
		sameHash.ID = suiteUUID(t)
		dupTok := tok
		dupTok.FamilyID = sameHash.ID
		suiteCheckErr(t, "CreateFamily(same token hash)", fx.Refresh.CreateFamily(t.Context(), sameHash, dupTok), store.ErrConflict)
		suiteCheckErr(t, "RevokeFamily(rejected family)", fx.Refresh.RevokeFamily(t.Context(), sameHash.ID, fx.start), store.ErrNotFound)
		fx.expectUnchanged(t, tok, f)
	})

	t.Run("LookupNotFound", func(t *testing.T) {
		fx := newRefreshFixture(t, newStores)
		fx.family(t)
		fx.expectAbsent(t, suiteTokenHash(t), "unknown hash")
	})

	t.Run("Rotate", func(t *testing.T) {
		fx := newRefreshFixture(t, newStores)
		f, tok := fx.family(t)
		at := fx.start.Add(time.Minute)
		req := fx.rotateReq(t, tok.Hash, fx.client.ID, at, 0)
		got, err := fx.Refresh.Rotate(t.Context(), req)
		suiteCheckErr(t, "Rotate", err, nil)
		if d := suiteFamilyDiff(got, f); d != "" {
			t.Errorf("returned family: %s", d)
		}
		consumed := tok
		consumed.ConsumedAt, consumed.ReplacedBy = at, req.New.Hash
		fx.expectUnchanged(t, consumed, f)
		successor := req.New
		successor.FamilyID = f.ID
		fx.expectUnchanged(t, successor, f)

		// The successor rotates in turn.
		third := fx.rotate(t, successor.Hash, at.Add(time.Minute), 0, nil)
		if tok, _ := fx.lookup(t, third); !tok.ConsumedAt.IsZero() || tok.FamilyID != f.ID {
			t.Errorf("third token: consumed %v, family %s", tok.ConsumedAt, tok.FamilyID)
		}
	})

	t.Run("RotateUnknown", func(t *testing.T) {
		fx := newRefreshFixture(t, newStores)
		fx.family(t)
		req := fx.rotateReq(t, suiteTokenHash(t), fx.client.ID, fx.start.Add(time.Minute), 0)
		_, err := fx.Refresh.Rotate(t.Context(), req)
		suiteCheckErr(t, "Rotate(unknown)", err, store.ErrNotFound)
		fx.expectAbsent(t, req.New.Hash, "successor of an unknown token")
	})

	t.Run("RotateOtherClient", func(t *testing.T) {
		// RFC 6749 §6: the refresh token is bound to its client; another
		// client's attempt looks like an unknown token and changes nothing.
		for _, clientID := range []string{"other-app", "no-such-app"} {
			t.Run(clientID, func(t *testing.T) {
				fx := newRefreshFixture(t, newStores)
				f, tok := fx.family(t)
				at := fx.start.Add(time.Minute)
				req := fx.rotateReq(t, tok.Hash, clientID, at, time.Minute)
				_, err := fx.Refresh.Rotate(t.Context(), req)
				suiteCheckErr(t, "Rotate(other client)", err, store.ErrNotFound)
				fx.expectUnchanged(t, tok, f)
				fx.expectAbsent(t, req.New.Hash, "successor")
				// The token still rotates for its own client.
				fx.rotate(t, tok.Hash, at, 0, nil)
			})
		}
	})

	t.Run("RotateExpiredIdle", func(t *testing.T) {
		fx := newRefreshFixture(t, newStores)
		f, tok := fx.family(t)
		req := fx.rotateReq(t, tok.Hash, fx.client.ID, tok.IdleExpiresAt.Add(time.Second), 0)
		_, err := fx.Refresh.Rotate(t.Context(), req)
		suiteCheckErr(t, "Rotate(idle expired)", err, store.ErrExpired)
		fx.expectUnchanged(t, tok, f)
		fx.expectAbsent(t, req.New.Hash, "successor")
	})

	t.Run("RotateExpiredAbsolute", func(t *testing.T) {
		// The successor's idle expiry would allow another rotation, but the
		// family's absolute lifetime ends first.
		fx := newRefreshFixture(t, newStores)
		f, tok := fx.newFamily(t, fx.user, fx.client.ID, 15*time.Minute, suiteIdleTTL)
		second := fx.rotate(t, tok.Hash, fx.start.Add(9*time.Minute), 0, nil)
		secondTok, _ := fx.lookup(t, second)
		req := fx.rotateReq(t, second, fx.client.ID, f.ExpiresAt.Add(time.Second), 0)
		_, err := fx.Refresh.Rotate(t.Context(), req)
		suiteCheckErr(t, "Rotate(absolute expired)", err, store.ErrExpired)
		fx.expectUnchanged(t, secondTok, f)
		fx.expectAbsent(t, req.New.Hash, "successor")
	})

	t.Run("ClampIdleExpiry", func(t *testing.T) {
		// A token never outlives its family: stores clamp IdleExpiresAt.
		fx := newRefreshFixture(t, newStores)
		f, tok := fx.newFamily(t, fx.user, fx.client.ID, 5*time.Minute, suiteIdleTTL)
		first, _ := fx.lookup(t, tok.Hash)
		if !first.IdleExpiresAt.Equal(f.ExpiresAt) {
			t.Errorf("CreateFamily: IdleExpiresAt = %v, want clamped to %v", first.IdleExpiresAt, f.ExpiresAt)
		}
		second := fx.rotate(t, tok.Hash, fx.start.Add(time.Minute), 0, nil)
		got, _ := fx.lookup(t, second)
		if !got.IdleExpiresAt.Equal(f.ExpiresAt) {
			t.Errorf("Rotate: IdleExpiresAt = %v, want clamped to %v", got.IdleExpiresAt, f.ExpiresAt)
		}
		fx.rotate(t, second, f.ExpiresAt.Add(time.Second), 0, store.ErrExpired)
	})

	t.Run("RotateRevoked", func(t *testing.T) {
		fx := newRefreshFixture(t, newStores)
		f, tok := fx.family(t)
		revokedAt := fx.start.Add(time.Minute)
		suiteCheckErr(t, "RevokeFamily", fx.Refresh.RevokeFamily(t.Context(), f.ID, revokedAt), nil)
		req := fx.rotateReq(t, tok.Hash, fx.client.ID, fx.start.Add(2*time.Minute), 0)
		got, err := fx.Refresh.Rotate(t.Context(), req)
		suiteCheckErr(t, "Rotate(revoked)", err, store.ErrRevoked)
		if got.ID != f.ID {
			t.Errorf("returned family %q, want %q", got.ID, f.ID)
		}
		f.RevokedAt = revokedAt
		fx.expectUnchanged(t, tok, f)
		fx.expectAbsent(t, req.New.Hash, "successor")
	})

	t.Run("RotateScope", func(t *testing.T) {
		// RFC 6749 §6: a refresh may narrow the scope, never widen it. The
		// family ("read write") keeps its scope either way.
		cases := []struct {
			name  string
			scope []string
			want  error
		}{
			{"NoScopeParameter", nil, nil},
			{"Narrowed", []string{"read"}, nil},
			{"Same", []string{"write", "read"}, nil},
			{"EmptyList", []string{}, nil},
			{"Beyond", []string{"read", "admin"}, store.ErrScope},
			{"Unrelated", []string{"admin"}, store.ErrScope},
			{"PrefixOfAToken", []string{"rea"}, store.ErrScope},
			{"WholeScopeAsOneToken", []string{"read write"}, store.ErrScope},
			{"EmptyToken", []string{""}, store.ErrScope},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				fx := newRefreshFixture(t, newStores)
				f, tok := fx.family(t)
				at := fx.start.Add(time.Minute)
				req := fx.rotateReq(t, tok.Hash, fx.client.ID, at, 0)
				req.Scope = tc.scope
				got, err := fx.Refresh.Rotate(t.Context(), req)
				suiteCheckErr(t, "Rotate(scope)", err, tc.want)
				if got.ID != f.ID || got.Scope != f.Scope {
					t.Errorf("returned family %q with scope %q, want %q with %q", got.ID, got.Scope, f.ID, f.Scope)
				}
				if tc.want == nil {
					successor := req.New
					successor.FamilyID = f.ID
					fx.expectUnchanged(t, successor, f)
					return
				}
				fx.expectUnchanged(t, tok, f)
				fx.expectAbsent(t, req.New.Hash, "successor")
				// Nothing changed: the token still rotates, in full scope.
				fx.rotate(t, tok.Hash, at, 0, nil)
			})
		}
	})

	t.Run("RotateUserDisabled", func(t *testing.T) {
		// A disabled user cannot refresh; the refusal changes nothing, and
		// the session stays dead once the user is re-enabled (the credential
		// epoch moved twice).
		fx := newRefreshFixture(t, newStores)
		f, tok := fx.family(t)
		at := fx.start.Add(time.Minute)
		suiteCheckErr(t, "SetDisabled", fx.Users.SetDisabled(t.Context(), fx.user.ID, true, at), nil)
		req := fx.rotateReq(t, tok.Hash, fx.client.ID, at.Add(time.Second), 0)
		got, err := fx.Refresh.Rotate(t.Context(), req)
		suiteCheckErr(t, "Rotate(user disabled)", err, store.ErrRevoked)
		if got.ID != f.ID || !got.RevokedAt.IsZero() {
			t.Errorf("returned family %q revoked at %v, want %q not revoked", got.ID, got.RevokedAt, f.ID)
		}
		fx.expectUnchanged(t, tok, f)
		fx.expectAbsent(t, req.New.Hash, "successor")

		suiteCheckErr(t, "SetDisabled(false)", fx.Users.SetDisabled(t.Context(), fx.user.ID, false, at), nil)
		fx.rotate(t, tok.Hash, at.Add(2*time.Second), 0, store.ErrRevoked)
	})

	t.Run("RotateUserDisabledOtherUserUnaffected", func(t *testing.T) {
		fx := newRefreshFixture(t, newStores)
		bob := suiteCreateUser(t, fx.Users, "bob")
		_, tokBob := fx.newFamily(t, bob, fx.client.ID, suiteAbsoluteTTL, suiteIdleTTL)
		at := fx.start.Add(time.Minute)
		suiteCheckErr(t, "SetDisabled", fx.Users.SetDisabled(t.Context(), fx.user.ID, true, at), nil)
		fx.rotate(t, tokBob.Hash, at, 0, nil)
	})

	t.Run("CheckOrderScopeAndUser", func(t *testing.T) {
		// ErrNotFound (other client) before ErrScope before ErrRevoked (family
		// revoked or user disabled) before ErrExpired before consumed. The
		// losing conditions change nothing: no reuse is reported or revokes.
		cases := []struct {
			name    string
			client  string // "" means the family's own client
			scope   []string
			revoke  bool
			disable bool
			consume bool
			expire  bool
			want    error
		}{
			{name: "OtherClientAndBadScope", client: "other-app", scope: []string{"admin"}, want: store.ErrNotFound},
			{name: "UnknownClientAndBadScope", client: "no-such-app", scope: []string{"admin"}, want: store.ErrNotFound},
			{name: "OtherClientAndDisabled", client: "other-app", disable: true, want: store.ErrNotFound},
			{name: "BadScopeAndRevoked", scope: []string{"admin"}, revoke: true, want: store.ErrScope},
			{name: "BadScopeAndDisabled", scope: []string{"admin"}, disable: true, want: store.ErrScope},
			{name: "BadScopeAndExpired", scope: []string{"admin"}, expire: true, want: store.ErrScope},
			{name: "BadScopeAndConsumed", scope: []string{"admin"}, consume: true, want: store.ErrScope},
			{name: "DisabledAndExpired", disable: true, expire: true, want: store.ErrRevoked},
			{name: "DisabledAndConsumed", disable: true, consume: true, want: store.ErrRevoked},
			{name: "DisabledExpiredConsumed", disable: true, consume: true, expire: true, want: store.ErrRevoked},
			{name: "NarrowedAndDisabled", scope: []string{"read"}, disable: true, want: store.ErrRevoked},
			{name: "NarrowedAndExpired", scope: []string{"read"}, expire: true, want: store.ErrExpired},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				fx := newRefreshFixture(t, newStores)
				f, tok := fx.family(t)
				at := fx.start.Add(time.Minute)
				if tc.consume {
					successor := fx.rotate(t, tok.Hash, at, 0, nil)
					tok.ConsumedAt, tok.ReplacedBy = at, successor
				}
				if tc.revoke {
					suiteCheckErr(t, "RevokeFamily", fx.Refresh.RevokeFamily(t.Context(), f.ID, at), nil)
					f.RevokedAt = at
				}
				if tc.disable {
					suiteCheckErr(t, "SetDisabled", fx.Users.SetDisabled(t.Context(), fx.user.ID, true, at), nil)
				}
				if tc.expire {
					at = f.ExpiresAt.Add(time.Second)
				}
				clientID := tc.client
				if clientID == "" {
					clientID = fx.client.ID
				}
				req := fx.rotateReq(t, tok.Hash, clientID, at.Add(time.Second), 0)
				req.Scope = tc.scope
				_, err := fx.Refresh.Rotate(t.Context(), req)
				suiteCheckErr(t, "Rotate", err, tc.want)
				fx.expectUnchanged(t, tok, f)
				fx.expectAbsent(t, req.New.Hash, "successor")
			})
		}
	})

	t.Run("CheckOrder", func(t *testing.T) {
		// Revoked before expired before consumed; the losing conditions
		// change nothing (in particular a reuse is not reported, and does not
		// revoke, when the token is expired or already revoked).
		cases := []struct {
			name    string
			revoke  bool
			consume bool
			expire  bool
			want    error
		}{
			{"RevokedAndExpired", true, false, true, store.ErrRevoked},
			{"RevokedAndConsumed", true, true, false, store.ErrRevoked},
			{"RevokedExpiredConsumed", true, true, true, store.ErrRevoked},
			{"ExpiredAndConsumed", false, true, true, store.ErrExpired},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				fx := newRefreshFixture(t, newStores)
				f, tok := fx.family(t)
				at := fx.start.Add(time.Minute)
				if tc.consume {
					successor := fx.rotate(t, tok.Hash, at, 0, nil)
					tok.ConsumedAt, tok.ReplacedBy = at, successor
				}
				if tc.revoke {
					suiteCheckErr(t, "RevokeFamily", fx.Refresh.RevokeFamily(t.Context(), f.ID, at), nil)
					f.RevokedAt = at
				}
				if tc.expire {
					at = f.ExpiresAt.Add(time.Second)
				}
				fx.rotate(t, tok.Hash, at.Add(time.Second), 0, tc.want)
				fx.expectUnchanged(t, tok, f)
			})
		}
	})

	t.Run("ReuseRevokesFamily", func(t *testing.T) {
		// RFC 9700 §4.14.2: presenting a consumed token again revokes the
		// whole family, so the newest token stops working too.
		fx := newRefreshFixture(t, newStores)
		f, tok := fx.family(t)
		second := fx.rotate(t, tok.Hash, fx.start.Add(time.Minute), 0, nil)
		newest := fx.rotate(t, second, fx.start.Add(2*time.Minute), 0, nil)

		reusedAt := fx.start.Add(3 * time.Minute)
		req := fx.rotateReq(t, tok.Hash, fx.client.ID, reusedAt, 0)
		got, err := fx.Refresh.Rotate(t.Context(), req)
		suiteCheckErr(t, "Rotate(reused)", err, store.ErrReused)
		if got.ID != f.ID || !got.RevokedAt.Equal(reusedAt) {
			t.Errorf("returned family %q revoked at %v, want %q revoked at %v", got.ID, got.RevokedAt, f.ID, reusedAt)
		}
		fx.expectAbsent(t, req.New.Hash, "successor of a reused token")
		if _, fam := fx.lookup(t, newest); !fam.RevokedAt.Equal(reusedAt) {
			t.Errorf("stored RevokedAt = %v, want %v", fam.RevokedAt, reusedAt)
		}
		fx.rotate(t, newest, reusedAt.Add(time.Second), 0, store.ErrRevoked)
	})

	t.Run("LeewayRetry", func(t *testing.T) {
		// The client lost the response to its first rotation and retries
		// within the leeway: it gets a new token, the unused successor is
		// superseded, and the family keeps exactly one live token.
		fx := newRefreshFixture(t, newStores)
		f, tok := fx.family(t)
		rotatedAt := fx.start.Add(time.Minute)
		lost := fx.rotate(t, tok.Hash, rotatedAt, 0, nil)
		retry := fx.rotate(t, tok.Hash, rotatedAt.Add(2*time.Second), 5*time.Second, nil)

		if got, fam := fx.lookup(t, tok.Hash); got.ReplacedBy != retry || !fam.RevokedAt.IsZero() {
			t.Errorf("presented token: ReplacedBy is the retry's token: %v; family revoked at %v",
				got.ReplacedBy == retry, fam.RevokedAt)
		}
		if got, _ := fx.lookup(t, lost); got.ConsumedAt.IsZero() {
			t.Error("superseded successor is still unconsumed")
		}
		if got, _ := fx.lookup(t, retry); !got.ConsumedAt.IsZero() || got.FamilyID != f.ID {
			t.Errorf("retry's token: consumed %v, family %q", got.ConsumedAt, got.FamilyID)
		}
		// The retry's token is the live one; the superseded successor counts
		// as consumed, so presenting it is reuse.
		fx.rotate(t, retry, rotatedAt.Add(3*time.Second), 0, nil)
		fx.rotate(t, lost, rotatedAt.Add(4*time.Second), 0, store.ErrReused)
	})

	t.Run("LeewayElapsedIsReuse", func(t *testing.T) {
		fx := newRefreshFixture(t, newStores)
		_, tok := fx.family(t)
		rotatedAt := fx.start.Add(time.Minute)
		successor := fx.rotate(t, tok.Hash, rotatedAt, 0, nil)
		fx.rotate(t, tok.Hash, rotatedAt.Add(6*time.Second), 5*time.Second, store.ErrReused)
		fx.rotate(t, successor, rotatedAt.Add(7*time.Second), 0, store.ErrRevoked)
	})

	t.Run("LeewaySuccessorUsedIsReuse", func(t *testing.T) {
		fx := newRefreshFixture(t, newStores)
		_, tok := fx.family(t)
		rotatedAt := fx.start.Add(time.Minute)
		successor := fx.rotate(t, tok.Hash, rotatedAt, 0, nil)
		third := fx.rotate(t, successor, rotatedAt.Add(time.Second), 0, nil)
		fx.rotate(t, tok.Hash, rotatedAt.Add(2*time.Second), 5*time.Second, store.ErrReused)
		fx.rotate(t, third, rotatedAt.Add(3*time.Second), 0, store.ErrRevoked)
	})

	t.Run("RevokeFamilyIdempotent", func(t *testing.T) {
		fx := newRefreshFixture(t, newStores)
		f, tok := fx.family(t)
		first := fx.start.Add(time.Minute)
		suiteCheckErr(t, "RevokeFamily", fx.Refresh.RevokeFamily(t.Context(), f.ID, first), nil)
		suiteCheckErr(t, "RevokeFamily(again)", fx.Refresh.RevokeFamily(t.Context(), f.ID, first.Add(time.Minute)), nil)
		f.RevokedAt = first
		fx.expectUnchanged(t, tok, f)
		suiteCheckErr(t, "RevokeFamily(unknown)", fx.Refresh.RevokeFamily(t.Context(), suiteUUID(t), first), store.ErrNotFound)
	})

	t.Run("RevokeUserFamilies", func(t *testing.T) {
		fx := newRefreshFixture(t, newStores)
		bob := suiteCreateUser(t, fx.Users, "bob")
		live1, tok1 := fx.family(t)
		live2, tok2 := fx.newFamily(t, fx.user, fx.other.ID, suiteAbsoluteTTL, suiteIdleTTL)
		revoked, tokRevoked := fx.family(t)
		expiredFam, tokExpired := fx.newFamily(t, fx.user, fx.client.ID, time.Minute, time.Minute)
		bobs, tokBob := fx.newFamily(t, bob, fx.client.ID, suiteAbsoluteTTL, suiteIdleTTL)

		earlier := fx.start.Add(time.Second)
		suiteCheckErr(t, "RevokeFamily", fx.Refresh.RevokeFamily(t.Context(), revoked.ID, earlier), nil)
		at := fx.start.Add(2 * time.Minute) // after expiredFam's end
		ids, err := fx.Refresh.RevokeUserFamilies(t.Context(), fx.user.ID, at)
		suiteCheckErr(t, "RevokeUserFamilies", err, nil)
		slices.Sort(ids)
		want := []string{live1.ID, live2.ID}
		slices.Sort(want)
		if !slices.Equal(ids, want) {
			t.Errorf("RevokeUserFamilies = %v, want the two live families %v", ids, want)
		}

		live1.RevokedAt, live2.RevokedAt, revoked.RevokedAt = at, at, earlier
		fx.expectUnchanged(t, tok1, live1)
		fx.expectUnchanged(t, tok2, live2)
		fx.expectUnchanged(t, tokRevoked, revoked)
		fx.expectUnchanged(t, tokExpired, expiredFam)
		fx.expectUnchanged(t, tokBob, bobs)

		ids, err = fx.Refresh.RevokeUserFamilies(t.Context(), fx.user.ID, at.Add(time.Second))
		suiteCheckErr(t, "RevokeUserFamilies(again)", err, nil)
		if len(ids) != 0 {
			t.Errorf("RevokeUserFamilies(again) = %v, want none", ids)
		}
	})

	t.Run("DeleteUserDeletesFamilies", func(t *testing.T) {
		fx := newRefreshFixture(t, newStores)
		bob := suiteCreateUser(t, fx.Users, "bob")
		f, tok := fx.family(t)
		second := fx.rotate(t, tok.Hash, fx.start.Add(time.Minute), 0, nil)
		bobs, tokBob := fx.newFamily(t, bob, fx.client.ID, suiteAbsoluteTTL, suiteIdleTTL)
		suiteCheckErr(t, "DeleteUser", fx.Users.DeleteUser(t.Context(), fx.user.ID), nil)
		fx.expectAbsent(t, tok.Hash, "first token of a deleted user")
		fx.expectAbsent(t, second, "second token of a deleted user")
		suiteCheckErr(t, "RevokeFamily(deleted)", fx.Refresh.RevokeFamily(t.Context(), f.ID, fx.start), store.ErrNotFound)
		fx.expectUnchanged(t, tokBob, bobs)
	})

	t.Run("DeleteClientDeletesFamilies", func(t *testing.T) {
		fx := newRefreshFixture(t, newStores)
		f, tok := fx.family(t)
		second := fx.rotate(t, tok.Hash, fx.start.Add(time.Minute), 0, nil)
		others, tokOther := fx.newFamily(t, fx.user, fx.other.ID, suiteAbsoluteTTL, suiteIdleTTL)
		suiteCheckErr(t, "DeleteClient", fx.Clients.DeleteClient(t.Context(), fx.client.ID), nil)
		fx.expectAbsent(t, tok.Hash, "first token of a deleted client")
		fx.expectAbsent(t, second, "second token of a deleted client")
		suiteCheckErr(t, "RevokeFamily(deleted)", fx.Refresh.RevokeFamily(t.Context(), f.ID, fx.start), store.ErrNotFound)
		fx.expectUnchanged(t, tokOther, others)
	})

	t.Run("ConcurrentRotateExactlyOneWins", func(t *testing.T) {
		// Under any number of concurrent rotations of one token exactly one
		// succeeds. The others see a consumed token (ErrReused, which revokes
		// the family) or, once a reuse has revoked it, ErrRevoked.
		fx := newRefreshFixture(t, newStores)
		_, tok := fx.family(t)
		const n = 50
		at := fx.start.Add(time.Minute)
		errs := make([]error, n)
		reqs := make([]store.RotateRequest, n)
		for i := range reqs {
			reqs[i] = fx.rotateReq(t, tok.Hash, fx.client.ID, at, 0)
		}
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				_, errs[i] = fx.Refresh.Rotate(t.Context(), reqs[i])
			})
		}
		close(start)
		wg.Wait()
		var wins, reused int
		for i, err := range errs {
			switch {
			case err == nil:
				wins++
			case errors.Is(err, store.ErrReused):
				reused++
			case errors.Is(err, store.ErrRevoked):
			default:
				t.Errorf("rotation %d: unexpected error %v", i, err)
			}
		}
		if wins != 1 || reused == 0 {
			t.Errorf("%d rotations succeeded and %d saw reuse, want exactly 1 and at least 1", wins, reused)
		}
		if _, fam := fx.lookup(t, tok.Hash); fam.RevokedAt.IsZero() {
			t.Error("family not revoked after concurrent reuse")
		}
	})

	t.Run("ConcurrentLeewayRetriesLeaveOneLiveToken", func(t *testing.T) {
		fx := newRefreshFixture(t, newStores)
		f, tok := fx.family(t)
		const n = 20
		at := fx.start.Add(time.Minute)
		errs := make([]error, n)
		reqs := make([]store.RotateRequest, n)
		for i := range reqs {
			reqs[i] = fx.rotateReq(t, tok.Hash, fx.client.ID, at, time.Minute)
		}
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				_, errs[i] = fx.Refresh.Rotate(t.Context(), reqs[i])
			})
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("presentation %d within the leeway: %v", i, err)
			}
		}
		var live []string
		for _, r := range reqs {
			got, fam := fx.lookup(t, r.New.Hash)
			if !fam.RevokedAt.IsZero() || got.FamilyID != f.ID {
				t.Errorf("successor in family %q revoked at %v", got.FamilyID, fam.RevokedAt)
			}
			if got.ConsumedAt.IsZero() {
				live = append(live, got.Hash)
			}
		}
		if len(live) != 1 {
			t.Fatalf("%d unconsumed tokens in the family, want exactly 1", len(live))
		}
		if got, _ := fx.lookup(t, tok.Hash); got.ReplacedBy != live[0] {
			t.Error("presented token's ReplacedBy is not the live token")
		}
		fx.rotate(t, live[0], at.Add(time.Second), 0, nil)
	})
}
