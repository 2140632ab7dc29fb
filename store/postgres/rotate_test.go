package postgres

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tokenserver/tokenserver/store"
)

// rotateFixture is a user, a client and one refresh-token family.
type rotateFixture struct {
	s      *Store
	client string
	family store.RefreshFamily
	first  string // hash of the family's first token
	now    time.Time
}

func randomHex(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func tokenHash(t testing.TB) string {
	sum := sha256.Sum256([]byte(randomHex(t, 32)))
	return hex.EncodeToString(sum[:])
}

func uuid(t testing.TB) string {
	h := randomHex(t, 16)
	return h[0:8] + "-" + h[8:12] + "-4" + h[13:16] + "-a" + h[17:20] + "-" + h[20:32]
}

func newRotateFixture(t testing.TB, s *Store) *rotateFixture {
	t.Helper()
	ctx := t.Context()
	now := time.Now().UTC().Truncate(time.Microsecond)
	u := store.User{ID: uuid(t), Username: "user-" + randomHex(t, 6), PasswordHash: "$argon2id$x",
		CreatedAt: now, UpdatedAt: now, PasswordChangedAt: now}
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	c := store.Client{ID: "client-" + randomHex(t, 6), Grants: []string{"password", "refresh_token"}, CreatedAt: now}
	if err := s.CreateClient(ctx, c); err != nil {
		t.Fatal(err)
	}
	return &rotateFixture{s: s, client: c.ID, now: now, family: store.RefreshFamily{
		UserID: u.ID, ClientID: c.ID, Username: u.Username, Scope: "read", CreatedAt: now, ExpiresAt: now.Add(24 * time.Hour)}}
}

// newFamily stores a fresh family of the fixture's user and client and
// returns its first token's hash.
func (fx *rotateFixture) newFamily(t testing.TB) (store.RefreshFamily, string) {
	t.Helper()
	f := fx.family
	f.ID = randomHex(t, 16)
	// A login reads the user's current credential epoch.
	u, err := fx.s.UserByID(t.Context(), f.UserID)
	if err != nil {
		t.Fatal(err)
	}
	f.UserEpoch = u.CredentialEpoch
	hash := tokenHash(t)
	if err := fx.s.CreateFamily(t.Context(), f, store.RefreshToken{Hash: hash, IssuedAt: fx.now,
		IdleExpiresAt: fx.now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	return f, hash
}

func (fx *rotateFixture) request(t testing.TB, old string) store.RotateRequest {
	return store.RotateRequest{OldHash: old, ClientID: fx.client, Now: fx.now.Add(time.Second),
		New: store.RefreshToken{Hash: tokenHash(t), IssuedAt: fx.now.Add(time.Second), IdleExpiresAt: fx.now.Add(time.Hour)}}
}

func TestConcurrentRotateThroughPool(t *testing.T) {
	// 50 rotations of one token over 50 pooled connections, so they really
	// meet in the database: exactly one wins; the rest see reuse (which
	// revokes the family) or the revocation a loser already made.
	dsn := newTestStore(t).pool.Config().ConnString()
	s, err := Open(t.Context(), Config{URL: dsn, MaxConns: 50})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	fx := newRotateFixture(t, s)
	_, first := fx.newFamily(t)

	const n = 50
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		req := fx.request(t, first)
		wg.Go(func() {
			<-start
			_, errs[i] = s.Rotate(t.Context(), req)
		})
	}
	close(start)
	wg.Wait()
	wins := 0
	for _, err := range errs {
		switch {
		case err == nil:
			wins++
		case errors.Is(err, store.ErrReused), errors.Is(err, store.ErrRevoked):
		default:
			t.Errorf("unexpected error: %v", err)
		}
	}
	if wins != 1 {
		t.Errorf("%d rotations succeeded, want exactly 1", wins)
	}
	var live int
	if err := s.pool.QueryRow(t.Context(), `SELECT count(*) FROM refresh_tokens WHERE family_id =
		(SELECT family_id FROM refresh_tokens WHERE hash = $1) AND consumed_at IS NULL`, first).Scan(&live); err != nil {
		t.Fatal(err)
	}
	if live != 1 {
		t.Errorf("%d unconsumed tokens in the family, want 1 (the winner's)", live)
	}
}

// rowVersions returns hash → xmin for every token of a family, and the
// family row's xmin: a changed xmin means the row was rewritten.
func rowVersions(t *testing.T, s *Store, familyID string) (map[string]string, string) {
	t.Helper()
	rows, err := s.pool.Query(t.Context(), `SELECT hash, xmin::text FROM refresh_tokens WHERE family_id = $1`, familyID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	tokens := map[string]string{}
	for rows.Next() {
		var h, x string
		if err := rows.Scan(&h, &x); err != nil {
			t.Fatal(err)
		}
		tokens[h] = x
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	var fam string
	if err := s.pool.QueryRow(t.Context(), `SELECT xmin::text FROM refresh_families WHERE id = $1`, familyID).Scan(&fam); err != nil {
		t.Fatal(err)
	}
	return tokens, fam
}

func TestReuseRevokesFamilyWithOneRowUpdate(t *testing.T) {
	s := newTestStore(t)
	fx := newRotateFixture(t, s)
	f, first := fx.newFamily(t)
	if _, err := s.Rotate(t.Context(), fx.request(t, first)); err != nil {
		t.Fatal(err)
	}
	tokensBefore, famBefore := rowVersions(t, s, f.ID)

	reuse := fx.request(t, first)
	reuse.Now = fx.now.Add(time.Minute)
	got, err := s.Rotate(t.Context(), reuse)
	if !errors.Is(err, store.ErrReused) {
		t.Fatalf("Rotate(consumed token) = %v, want ErrReused", err)
	}
	if !got.RevokedAt.Equal(reuse.Now) || got.ID != f.ID {
		t.Errorf("returned family %s revoked at %v, want %s revoked at %v", got.ID, got.RevokedAt, f.ID, reuse.Now)
	}
	_, stored, err := s.Lookup(t.Context(), first)
	if err != nil {
		t.Fatal(err)
	}
	if !stored.RevokedAt.Equal(reuse.Now) {
		t.Errorf("stored RevokedAt = %v, want %v", stored.RevokedAt, reuse.Now)
	}

	tokensAfter, famAfter := rowVersions(t, s, f.ID)
	if famAfter == famBefore {
		t.Error("family row not updated")
	}
	if len(tokensAfter) != len(tokensBefore) {
		t.Errorf("%d tokens after reuse, want %d (none inserted or deleted)", len(tokensAfter), len(tokensBefore))
	}
	for h, x := range tokensBefore {
		if tokensAfter[h] != x {
			t.Errorf("token %s… rewritten by the reuse (xmin %s → %s)", h[:8], x, tokensAfter[h])
		}
	}
}

func TestRotateHappyPathIsOneStatement(t *testing.T) {
	// The winner's UPDATE and INSERT commit together: the consumed token and
	// its successor carry the same transaction ID.
	s := newTestStore(t)
	fx := newRotateFixture(t, s)
	_, first := fx.newFamily(t)
	req := fx.request(t, first)
	if _, err := s.Rotate(t.Context(), req); err != nil {
		t.Fatal(err)
	}
	var oldX, newX string
	if err := s.pool.QueryRow(t.Context(), `SELECT
		(SELECT xmin::text FROM refresh_tokens WHERE hash = $1),
		(SELECT xmin::text FROM refresh_tokens WHERE hash = $2)`, first, req.New.Hash).Scan(&oldX, &newX); err != nil {
		t.Fatal(err)
	}
	if oldX != newX {
		t.Errorf("consume (xmin %s) and insert (xmin %s) in different transactions", oldX, newX)
	}
}

func TestRotateNewHashTakenChangesNothing(t *testing.T) {
	s := newTestStore(t)
	fx := newRotateFixture(t, s)
	f, first := fx.newFamily(t)
	_, other := fx.newFamily(t)
	req := fx.request(t, first)
	req.New.Hash = other // collides with an existing token
	if _, err := s.Rotate(t.Context(), req); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("Rotate onto an existing hash = %v, want ErrConflict", err)
	}
	tok, fam, err := s.Lookup(t.Context(), first)
	if err != nil {
		t.Fatal(err)
	}
	if !tok.ConsumedAt.IsZero() || tok.ReplacedBy != "" || !fam.RevokedAt.IsZero() || fam.ID != f.ID {
		t.Errorf("failed rotation left changes: token %+v, family revoked at %v", tok, fam.RevokedAt)
	}
}

func TestCreateFamilyNeedsUserAndClient(t *testing.T) {
	s := newTestStore(t)
	fx := newRotateFixture(t, s)
	cases := []struct {
		name   string
		change func(*store.RefreshFamily)
	}{
		{"UnknownUser", func(f *store.RefreshFamily) { f.UserID = uuid(t) }},
		{"UserIDNotUUID", func(f *store.RefreshFamily) { f.UserID = "alice" }},
		{"UnknownClient", func(f *store.RefreshFamily) { f.ClientID = "nobody" }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := fx.family
			f.ID = randomHex(t, 16)
			tc.change(&f)
			hash := tokenHash(t)
			err := s.CreateFamily(t.Context(), f, store.RefreshToken{Hash: hash, IssuedAt: fx.now, IdleExpiresAt: fx.now.Add(time.Hour)})
			if !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("CreateFamily = %v, want ErrNotFound", err)
			}
			if _, _, err := s.Lookup(t.Context(), hash); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("token stored despite the failure: Lookup = %v", err)
			}
		})
	}
}

func TestRotateHappyPathDecidesScopeAndUser(t *testing.T) {
	// The one-statement path must accept every rotation the contract
	// allows (so a refresh stays one round trip) and refuse the scope and
	// disabled-user cases itself (never consuming the token), leaving the
	// classification to the slow path. Run rotateSQL alone to see which.
	s := newTestStore(t)
	fx := newRotateFixture(t, s)
	fx.family.Scope = "read  write" // a repeated space must not matter
	cases := []struct {
		name    string
		scope   []string
		disable bool
		rotates bool
	}{
		{name: "no scope parameter", scope: nil, rotates: true},
		{name: "empty list", scope: []string{}, rotates: true},
		{name: "narrowed", scope: []string{"write"}, rotates: true},
		{name: "same", scope: []string{"write", "read"}, rotates: true},
		{name: "beyond", scope: []string{"read", "admin"}},
		{name: "empty token", scope: []string{""}},
		{name: "user disabled", disable: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := s.SetDisabled(t.Context(), fx.family.UserID, false, fx.now); err != nil {
				t.Fatal(err)
			}
			_, first := fx.newFamily(t)
			if tc.disable {
				if err := s.SetDisabled(t.Context(), fx.family.UserID, true, fx.now); err != nil {
					t.Fatal(err)
				}
			}
			req := fx.request(t, first)
			var id string
			err := s.pool.QueryRow(t.Context(), rotateSQL, req.OldHash, req.ClientID, utc(req.Now), req.New.Hash,
				utc(req.New.IssuedAt), utc(req.New.IdleExpiresAt), tc.scope, req.DPoPJKT).Scan(&id, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil)
			switch {
			case tc.rotates && err != nil:
				t.Fatalf("rotateSQL: %v, want one row", err)
			case !tc.rotates && !errors.Is(err, pgx.ErrNoRows):
				t.Fatalf("rotateSQL: %v, want no rows", err)
			}
			tok, _, err := s.Lookup(t.Context(), first)
			if err != nil {
				t.Fatal(err)
			}
			if consumed := !tok.ConsumedAt.IsZero(); consumed != tc.rotates {
				t.Errorf("token consumed = %v, want %v", consumed, tc.rotates)
			}
		})
	}
}
