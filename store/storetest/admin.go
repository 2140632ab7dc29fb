package storetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tokenserver/tokenserver/store"
)

// PagedUsers is a user store that also lists users a page at a time.
type PagedUsers interface {
	store.UserStore
	store.UserPager
}

// TestUserPager runs the conformance suite for store.UserPager. newStore
// must return a fresh, empty store for each call.
func TestUserPager(t *testing.T, newStore func(*testing.T) PagedUsers) {
	names := func(us []store.User) []string {
		out := make([]string, len(us))
		for i, u := range us {
			out[i] = u.Username
		}
		return out
	}
	seed := func(t *testing.T) PagedUsers {
		s := newStore(t)
		for _, n := range []string{"carol", "Alice", "bob", "alfred", "albert", "dave"} {
			suiteCreateUser(t, s, n)
		}
		return s
	}
	for _, tc := range []struct {
		name          string
		after, prefix string
		limit         int
		want          []string
	}{
		{"FirstPage", "", "", 3, []string{"albert", "alfred", "Alice"}},
		{"NextPage", "alice", "", 3, []string{"bob", "carol", "dave"}},
		{"CursorCaseInsensitive", "ALICE", "", 1, []string{"bob"}},
		{"LastPageShort", "carol", "", 3, []string{"dave"}},
		{"PastTheEnd", "dave", "", 3, nil},
		{"Prefix", "", "al", 10, []string{"albert", "alfred", "Alice"}},
		{"PrefixCaseInsensitive", "", "AL", 2, []string{"albert", "alfred"}},
		{"PrefixWithCursor", "alfred", "al", 10, []string{"Alice"}},
		{"PrefixNoMatch", "", "zed", 10, nil},
		{"PrefixIsNotAPattern", "", "a%", 10, nil},
		{"PrefixUnderscoreIsLiteral", "", "a_", 10, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := seed(t)
			got, err := s.ListUsersPage(t.Context(), tc.after, tc.prefix, tc.limit)
			suiteCheckErr(t, "ListUsersPage", err, nil)
			if !slices.Equal(names(got), tc.want) {
				t.Fatalf("ListUsersPage(%q, %q, %d) = %q, want %q", tc.after, tc.prefix, tc.limit, names(got), tc.want)
			}
		})
	}
	t.Run("WalksEveryUserOnce", func(t *testing.T) {
		s := seed(t)
		all, err := s.ListUsers(t.Context())
		suiteCheckErr(t, "ListUsers", err, nil)
		var walked []string
		after := ""
		for range 10 {
			page, err := s.ListUsersPage(t.Context(), after, "", 2)
			suiteCheckErr(t, "ListUsersPage", err, nil)
			if len(page) == 0 {
				break
			}
			walked = append(walked, names(page)...)
			after = page[len(page)-1].Username
		}
		if !slices.Equal(walked, names(all)) {
			t.Fatalf("pages walked %q, ListUsers %q", walked, names(all))
		}
	})
	t.Run("FullUsers", func(t *testing.T) {
		s := newStore(t)
		want := suiteCreateUser(t, s, "erin")
		got, err := s.ListUsersPage(t.Context(), "", "", 1)
		suiteCheckErr(t, "ListUsersPage", err, nil)
		if len(got) != 1 {
			t.Fatalf("got %d users, want 1", len(got))
		}
		if d := suiteUserDiff(got[0], want); d != "" {
			t.Fatal(d)
		}
	})
	t.Run("NonPositiveLimitIsAnError", func(t *testing.T) {
		s := seed(t)
		if _, err := s.ListUsersPage(t.Context(), "", "", 0); err == nil {
			t.Fatal("limit 0: no error")
		}
	})
}

// TestSessionLister runs the conformance suite for store.SessionLister;
// the stores' Refresh must implement it.
func TestSessionLister(t *testing.T, newStores func(*testing.T) RefreshStores) {
	lister := func(t *testing.T, fx *refreshFixture) store.SessionLister {
		l, ok := fx.Refresh.(store.SessionLister)
		if !ok {
			t.Fatalf("%T does not implement store.SessionLister", fx.Refresh)
		}
		return l
	}
	ids := func(ss []store.SessionInfo) []string {
		out := make([]string, len(ss))
		for i, s := range ss {
			out[i] = s.ID
		}
		return out
	}
	t.Run("LiveSessionsWithLastUse", func(t *testing.T) {
		fx := newRefreshFixture(t, newStores)
		f1, tok1 := fx.family(t)
		f2, _ := fx.newFamily(t, fx.user, fx.other.ID, suiteAbsoluteTTL, suiteIdleTTL)
		bob := suiteCreateUser(t, fx.Users, "bob")
		fx.newFamily(t, bob, fx.client.ID, suiteAbsoluteTTL, suiteIdleTTL)
		used := fx.start.Add(time.Minute)
		fx.rotate(t, tok1.Hash, used, 0, nil)

		got, err := lister(t, fx).UserSessions(t.Context(), fx.user.ID, fx.start.Add(2*time.Minute))
		suiteCheckErr(t, "UserSessions", err, nil)
		want := []string{f1.ID, f2.ID}
		slices.Sort(want) // same CreatedAt: ordered by ID
		if !slices.Equal(ids(got), want) {
			t.Fatalf("sessions %q, want %q", ids(got), want)
		}
		for _, s := range got {
			wantLast, wantClient := fx.start, fx.other.ID
			if s.ID == f1.ID {
				wantLast, wantClient = used, fx.client.ID
			}
			d := suiteTimeDiff("CreatedAt", s.CreatedAt, fx.start) +
				suiteTimeDiff("ExpiresAt", s.ExpiresAt, fx.start.Add(suiteAbsoluteTTL)) +
				suiteTimeDiff("LastUsedAt", s.LastUsedAt, wantLast)
			if s.ClientID != wantClient || s.Scope != "read write" {
				d += fmt.Sprintf("client %q scope %q, want %q %q", s.ClientID, s.Scope, wantClient, "read write")
			}
			if d != "" {
				t.Errorf("session %s: %s", s.ID, d)
			}
		}
	})
	t.Run("DeadSessionsAreLeftOut", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			kill func(t *testing.T, fx *refreshFixture, f store.RefreshFamily) time.Time // returns the listing time
		}{
			{"Revoked", func(t *testing.T, fx *refreshFixture, f store.RefreshFamily) time.Time {
				suiteCheckErr(t, "RevokeFamily", fx.Refresh.RevokeFamily(t.Context(), f.ID, fx.start), nil)
				return fx.start.Add(time.Second)
			}},
			{"AbsoluteExpiry", func(t *testing.T, fx *refreshFixture, f store.RefreshFamily) time.Time {
				return f.ExpiresAt
			}},
			{"IdleExpiry", func(t *testing.T, fx *refreshFixture, f store.RefreshFamily) time.Time {
				return fx.start.Add(suiteIdleTTL)
			}},
			{"UserDisabled", func(t *testing.T, fx *refreshFixture, f store.RefreshFamily) time.Time {
				suiteCheckErr(t, "SetDisabled", fx.Users.SetDisabled(t.Context(), fx.user.ID, true, fx.start), nil)
				return fx.start.Add(time.Second)
			}},
			{"PasswordChanged", func(t *testing.T, fx *refreshFixture, f store.RefreshFamily) time.Time {
				suiteCheckErr(t, "SetPassword", fx.Users.SetPassword(t.Context(), fx.user.ID, "$argon2id$new", fx.start), nil)
				return fx.start.Add(time.Second)
			}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				fx := newRefreshFixture(t, newStores)
				f, _ := fx.family(t)
				at := tc.kill(t, fx, f)
				got, err := lister(t, fx).UserSessions(t.Context(), fx.user.ID, at)
				suiteCheckErr(t, "UserSessions", err, nil)
				if len(got) != 0 {
					t.Fatalf("sessions %q, want none", ids(got))
				}
			})
		}
	})
	t.Run("UnknownUserHasNone", func(t *testing.T) {
		fx := newRefreshFixture(t, newStores)
		fx.family(t)
		got, err := lister(t, fx).UserSessions(t.Context(), suiteUUID(t), fx.start)
		suiteCheckErr(t, "UserSessions", err, nil)
		if len(got) != 0 {
			t.Fatalf("sessions %q, want none", ids(got))
		}
	})
}

// UpdatableClients is a client store that can update registrations.
type UpdatableClients interface {
	store.ClientStore
	store.ClientUpdater
}

// TestClientUpdater runs the conformance suite for store.ClientUpdater.
func TestClientUpdater(t *testing.T, newStore func(*testing.T) UpdatableClients) {
	t.Run("UpdatesEveryFieldButIDAndCreatedAt", func(t *testing.T) {
		s := newStore(t)
		orig := suiteClient(t, "app")
		suiteCreateClient(t, s, orig)
		want := orig
		want.SecretHash = "sha256:" + suiteName(t, "new")
		want.Grants, want.Scopes, want.Audience = []string{"client_credentials"}, []string{"admin"}, []string{"https://x.example"}
		want.AccessTokenTTL, want.RefreshIdleTTL, want.RefreshAbsoluteTTL = time.Minute, 2*time.Minute, 3*time.Minute
		want.PreviousSecretHash, want.PreviousSecretExpiresAt = orig.SecretHash, suiteNow().Add(2*time.Hour)
		got, err := s.UpdateClient(t.Context(), "app", func(c store.Client) (store.Client, error) {
			if d := suiteClientDiff(c, orig); d != "" {
				t.Errorf("fn got %s", d)
			}
			next := want
			next.ID, next.CreatedAt = "other", suiteNow()
			return next, nil
		})
		suiteCheckErr(t, "UpdateClient", err, nil)
		if d := suiteClientDiff(got, want); d != "" {
			t.Errorf("returned: %s", d)
		}
		stored, err := s.ClientByID(t.Context(), "app")
		suiteCheckErr(t, "ClientByID", err, nil)
		if d := suiteClientDiff(stored, want); d != "" {
			t.Errorf("stored: %s", d)
		}
		if _, err := s.ClientByID(t.Context(), "other"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("ClientByID(other) = %v, want ErrNotFound", err)
		}
	})
	t.Run("FnErrorChangesNothing", func(t *testing.T) {
		s := newStore(t)
		orig := suiteClient(t, "app")
		suiteCreateClient(t, s, orig)
		boom := errors.New("boom")
		_, err := s.UpdateClient(t.Context(), "app", func(c store.Client) (store.Client, error) {
			c.Scopes = nil
			return c, boom
		})
		suiteCheckErr(t, "UpdateClient", err, boom)
		stored, err := s.ClientByID(t.Context(), "app")
		suiteCheckErr(t, "ClientByID", err, nil)
		if d := suiteClientDiff(stored, orig); d != "" {
			t.Errorf("stored: %s", d)
		}
	})
	t.Run("UnknownClient", func(t *testing.T) {
		s := newStore(t)
		called := false
		_, err := s.UpdateClient(t.Context(), "nope", func(c store.Client) (store.Client, error) { called = true; return c, nil })
		suiteCheckErr(t, "UpdateClient", err, store.ErrNotFound)
		if called {
			t.Error("fn called for an unknown client")
		}
	})
	t.Run("ConcurrentUpdatesSerialise", func(t *testing.T) {
		s := newStore(t)
		c := suiteClient(t, "app")
		c.Scopes = nil
		suiteCreateClient(t, s, c)
		const n = 20
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				_, err := s.UpdateClient(t.Context(), "app", func(c store.Client) (store.Client, error) {
					c.Scopes = append(c.Scopes, fmt.Sprintf("s%02d", i))
					return c, nil
				})
				if err != nil {
					t.Errorf("UpdateClient: %v", err)
				}
			})
		}
		wg.Wait()
		stored, err := s.ClientByID(t.Context(), "app")
		suiteCheckErr(t, "ClientByID", err, nil)
		if len(stored.Scopes) != n {
			t.Fatalf("%d scopes after %d concurrent appends: an update was lost", len(stored.Scopes), n)
		}
	})
}
