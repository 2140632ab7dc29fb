package storetest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/tokenserver/tokenserver/store"
)

// testCredentialEpoch is the part of the refresh-token suite about
// User.CredentialEpoch: a session never outlives a credential change it did
// not see, however the login and the change interleave.
func testCredentialEpoch(t *testing.T, newStores func(*testing.T) RefreshStores) {
	// loginFamily builds the family a login would create after reading user.
	loginFamily := func(t *testing.T, fx *refreshFixture, user store.User) (store.RefreshFamily, store.RefreshToken) {
		f := store.RefreshFamily{
			ID: suiteUUID(t), ClientID: fx.client.ID, UserID: user.ID, Username: user.Username,
			Scope: "read", CreatedAt: fx.start, ExpiresAt: fx.start.Add(suiteAbsoluteTTL),
			UserEpoch: user.CredentialEpoch,
		}
		tok := store.RefreshToken{Hash: suiteTokenHash(t), FamilyID: f.ID, IssuedAt: fx.start,
			IdleExpiresAt: fx.start.Add(suiteIdleTTL)}
		return f, tok
	}
	// changes are the credential changes that must end sessions.
	changes := []struct {
		name   string
		change func(t *testing.T, fx *refreshFixture, at time.Time)
	}{
		{"SetPassword", func(t *testing.T, fx *refreshFixture, at time.Time) {
			suiteCheckErr(t, "SetPassword", fx.Users.SetPassword(t.Context(), fx.user.ID, "$argon2id$new", at), nil)
		}},
		{"SetDisabledThenEnabled", func(t *testing.T, fx *refreshFixture, at time.Time) {
			suiteCheckErr(t, "SetDisabled(true)", fx.Users.SetDisabled(t.Context(), fx.user.ID, true, at), nil)
			suiteCheckErr(t, "SetDisabled(false)", fx.Users.SetDisabled(t.Context(), fx.user.ID, false, at), nil)
		}},
		{"RevokeUserFamilies", func(t *testing.T, fx *refreshFixture, at time.Time) {
			_, err := fx.Refresh.RevokeUserFamilies(t.Context(), fx.user.ID, at)
			suiteCheckErr(t, "RevokeUserFamilies", err, nil)
		}},
	}

	t.Run("EpochStartsAtZeroAndGrows", func(t *testing.T) {
		fx := newRefreshFixture(t, newStores)
		u := suiteUser(t, "carol")
		u.CredentialEpoch = 41 // ignored: the store owns the epoch
		suiteCheckErr(t, "CreateUser", fx.Users.CreateUser(t.Context(), u), nil)
		if got := suiteGetUser(t, fx.Users, u.ID).CredentialEpoch; got != 0 {
			t.Fatalf("new user's epoch = %d, want 0", got)
		}
		prev := suiteGetUser(t, fx.Users, fx.user.ID).CredentialEpoch
		for _, c := range changes {
			c.change(t, fx, fx.start.Add(time.Minute))
			got := suiteGetUser(t, fx.Users, fx.user.ID).CredentialEpoch
			if got <= prev {
				t.Errorf("after %s the epoch is %d, want more than %d", c.name, got, prev)
			}
			prev = got
		}
		// A transparent rehash is not a credential change.
		u2 := suiteGetUser(t, fx.Users, fx.user.ID)
		suiteCheckErr(t, "UpgradePasswordHash",
			fx.Users.UpgradePasswordHash(t.Context(), u2.ID, u2.PasswordHash, "$argon2id$rehashed"), nil)
		if got := suiteGetUser(t, fx.Users, fx.user.ID).CredentialEpoch; got != prev {
			t.Errorf("UpgradePasswordHash changed the epoch to %d, want %d", got, prev)
		}
	})

	for _, c := range changes {
		t.Run("CreateFamilyAfter"+c.name, func(t *testing.T) {
			// The login read the user, then the change committed, then the
			// login stores its session: refused, and nothing stored.
			fx := newRefreshFixture(t, newStores)
			read := suiteGetUser(t, fx.Users, fx.user.ID)
			c.change(t, fx, fx.start.Add(time.Second))
			f, tok := loginFamily(t, fx, read)
			suiteCheckErr(t, "CreateFamily(stale epoch)", fx.Refresh.CreateFamily(t.Context(), f, tok), store.ErrRevoked)
			fx.expectAbsent(t, tok.Hash, "token of a refused family")
			// A login that read the user after the change gets its session.
			f2, tok2 := loginFamily(t, fx, suiteGetUser(t, fx.Users, fx.user.ID))
			suiteCheckErr(t, "CreateFamily(current epoch)", fx.Refresh.CreateFamily(t.Context(), f2, tok2), nil)
			fx.rotate(t, tok2.Hash, fx.start.Add(time.Minute), 0, nil)
		})

		t.Run("RotateAfter"+c.name, func(t *testing.T) {
			// A family created before the change is dead after it, even if
			// nothing revoked it: refused, and nothing changed.
			fx := newRefreshFixture(t, newStores)
			f, tok := loginFamily(t, fx, suiteGetUser(t, fx.Users, fx.user.ID))
			suiteCheckErr(t, "CreateFamily", fx.Refresh.CreateFamily(t.Context(), f, tok), nil)
			c.change(t, fx, fx.start.Add(time.Second))
			_, f = fx.lookup(t, tok.Hash)
			req := fx.rotateReq(t, tok.Hash, fx.client.ID, fx.start.Add(time.Minute), 0)
			_, err := fx.Refresh.Rotate(t.Context(), req)
			suiteCheckErr(t, "Rotate(after "+c.name+")", err, store.ErrRevoked)
			fx.expectUnchanged(t, tok, f)
			fx.expectAbsent(t, req.New.Hash, "successor")
		})
	}

	t.Run("CreateFamilyDisabledUser", func(t *testing.T) {
		fx := newRefreshFixture(t, newStores)
		suiteCheckErr(t, "SetDisabled", fx.Users.SetDisabled(t.Context(), fx.user.ID, true, fx.start), nil)
		f, tok := loginFamily(t, fx, suiteGetUser(t, fx.Users, fx.user.ID)) // current epoch, but disabled
		suiteCheckErr(t, "CreateFamily(disabled)", fx.Refresh.CreateFamily(t.Context(), f, tok), store.ErrRevoked)
		fx.expectAbsent(t, tok.Hash, "token of a refused family")
	})

	t.Run("CreateFamilyUnknownUser", func(t *testing.T) {
		fx := newRefreshFixture(t, newStores)
		ghost := suiteUser(t, "ghost") // never stored
		f, tok := loginFamily(t, fx, ghost)
		suiteCheckErr(t, "CreateFamily(unknown user)", fx.Refresh.CreateFamily(t.Context(), f, tok), store.ErrNotFound)
	})

	t.Run("ConcurrentLoginsAndPasswordChangeLeaveNoSession", func(t *testing.T) {
		// Logins that read the old credentials race the change: whichever
		// side wins each race, no session they create survives it.
		fx := newRefreshFixture(t, newStores)
		read := suiteGetUser(t, fx.Users, fx.user.ID)
		const n = 40
		toks := make([]store.RefreshToken, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			f, tok := loginFamily(t, fx, read)
			toks[i] = tok
			wg.Go(func() {
				<-start
				errs[i] = fx.Refresh.CreateFamily(t.Context(), f, tok)
			})
		}
		wg.Go(func() {
			<-start
			if err := fx.Users.SetPassword(t.Context(), fx.user.ID, "$argon2id$new", fx.start.Add(time.Second)); err != nil {
				t.Errorf("SetPassword: %v", err)
			}
		})
		close(start)
		wg.Wait()
		for i, err := range errs {
			switch {
			case errors.Is(err, store.ErrRevoked):
				fx.expectAbsent(t, toks[i].Hash, "token of a refused family")
			case err != nil:
				t.Errorf("CreateFamily %d: unexpected error %v", i, err)
			default:
				req := fx.rotateReq(t, toks[i].Hash, fx.client.ID, fx.start.Add(time.Minute), 0)
				if _, err := fx.Refresh.Rotate(t.Context(), req); !errors.Is(err, store.ErrRevoked) {
					t.Errorf("session %d created before the change: Rotate = %v, want ErrRevoked", i, err)
				}
			}
		}
	})
}
