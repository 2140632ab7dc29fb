package storetest

import (
	"context"
	"fmt"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/tokenserver/tokenserver/store"
)

// suiteUser returns a fully populated user with a fresh ID.
func suiteUser(t testing.TB, username string) store.User {
	t.Helper()
	at := suiteNow().Add(-time.Hour)
	return store.User{
		ID:                suiteUUID(t),
		Username:          username,
		PasswordHash:      "$argon2id$v=19$m=19456,t=2,p=1$" + suiteName(t, "salt") + "$" + suiteName(t, "hash"),
		CreatedAt:         at,
		UpdatedAt:         at,
		PasswordChangedAt: at,
	}
}

// suiteNotText returns strings that are not UTF-8 text without NUL, built
// around a valid key so that a store comparing a prefix would find it.
func suiteNotText(key string) []string {
	return []string{
		key + "\x00",
		key[:2] + "\x00" + key[2:],
		key + "\xff",
		key[:2] + "\xff" + key[2:],
		key + "\xc0\xaf",     // overlong encoding of '/'
		key + "\xed\xa0\x80", // UTF-16 surrogate
		"\x00",
		"\xff",
	}
}

// suiteUserDiff describes how got differs from want, or returns "".
func suiteUserDiff(got, want store.User) string {
	d := suiteTimeDiff("CreatedAt", got.CreatedAt, want.CreatedAt) +
		suiteTimeDiff("UpdatedAt", got.UpdatedAt, want.UpdatedAt) +
		suiteTimeDiff("PasswordChangedAt", got.PasswordChangedAt, want.PasswordChangedAt)
	got.CreatedAt, got.UpdatedAt, got.PasswordChangedAt = time.Time{}, time.Time{}, time.Time{}
	want.CreatedAt, want.UpdatedAt, want.PasswordChangedAt = time.Time{}, time.Time{}, time.Time{}
	if !reflect.DeepEqual(got, want) {
		d += "fields differ: got " + suiteUserString(got) + ", want " + suiteUserString(want)
	}
	return d
}

// suiteUserString prints a user without its password hash.
func suiteUserString(u store.User) string {
	hash := "<empty>"
	if u.PasswordHash != "" {
		hash = "<" + u.PasswordHash[:min(12, len(u.PasswordHash))] + "…>"
	}
	disabled := "enabled"
	if u.Disabled {
		disabled = "disabled"
	}
	return "{" + u.ID + " " + u.Username + " " + hash + " " + disabled + " epoch " + strconv.FormatInt(u.CredentialEpoch, 10) +
		" email " + u.Email + " roles " + fmt.Sprint(u.Roles) + " attributes " + fmt.Sprint(suiteAttrString(u.Attributes)) + "}"
}

// suiteCreateUser stores a new user called username and returns it.
func suiteCreateUser(t testing.TB, s store.UserStore, username string) store.User {
	t.Helper()
	u := suiteUser(t, username)
	if err := s.CreateUser(t.Context(), u); err != nil {
		t.Fatalf("CreateUser(%q): %v", username, err)
	}
	return u
}

// suiteGetUser reads a user by ID and fails the test on error.
func suiteGetUser(t testing.TB, s store.UserStore, id string) store.User {
	t.Helper()
	u, err := s.UserByID(t.Context(), id)
	if err != nil {
		t.Fatalf("UserByID: %v", err)
	}
	return u
}

// TestUserStore runs the conformance suite for store.UserStore. newStore
// must return a fresh, empty store for each call.
func TestUserStore(t *testing.T, newStore func(*testing.T) store.UserStore) {
	testUserProfile(t, newStore)
	t.Run("CreateAndGet", func(t *testing.T) {
		s := newStore(t)
		want := suiteUser(t, "Alice")
		want.Disabled = true
		suiteCheckErr(t, "CreateUser", s.CreateUser(t.Context(), want), nil)
		for _, name := range []string{"Alice", "alice", "ALICE"} {
			got, err := s.UserByName(t.Context(), name)
			suiteCheckErr(t, "UserByName("+name+")", err, nil)
			if d := suiteUserDiff(got, want); d != "" {
				t.Errorf("UserByName(%q): %s", name, d)
			}
		}
		if d := suiteUserDiff(suiteGetUser(t, s, want.ID), want); d != "" {
			t.Errorf("UserByID: %s", d)
		}
	})

	t.Run("NotFound", func(t *testing.T) {
		s := newStore(t)
		suiteCreateUser(t, s, "alice")
		_, err := s.UserByID(t.Context(), suiteUUID(t))
		suiteCheckErr(t, "UserByID(unknown)", err, store.ErrNotFound)
		_, err = s.UserByName(t.Context(), "bob")
		suiteCheckErr(t, "UserByName(unknown)", err, store.ErrNotFound)
		_, err = s.UserByName(t.Context(), "alic")
		suiteCheckErr(t, "UserByName(prefix)", err, store.ErrNotFound)
	})

	// A lookup key no row can hold (invalid UTF-8, NUL: PostgreSQL's text
	// refuses both) is simply not found, never a driver error that the
	// server would answer with a 500.
	t.Run("NotFoundNotText", func(t *testing.T) {
		for _, name := range suiteNotText("alice") {
			t.Run(fmt.Sprintf("%q", name), func(t *testing.T) {
				s := newStore(t)
				existing := suiteCreateUser(t, s, "alice")
				_, err := s.UserByName(t.Context(), name)
				suiteCheckErr(t, fmt.Sprintf("UserByName(%q)", name), err, store.ErrNotFound)
				_, err = s.UserByID(t.Context(), name)
				suiteCheckErr(t, fmt.Sprintf("UserByID(%q)", name), err, store.ErrNotFound)
				if d := suiteUserDiff(suiteGetUser(t, s, existing.ID), existing); d != "" {
					t.Errorf("existing user changed: %s", d)
				}
			})
		}
	})

	t.Run("CreateConflictID", func(t *testing.T) {
		s := newStore(t)
		first := suiteCreateUser(t, s, "alice")
		dup := suiteUser(t, "bob")
		dup.ID = first.ID
		suiteCheckErr(t, "CreateUser(same id)", s.CreateUser(t.Context(), dup), store.ErrConflict)
		if d := suiteUserDiff(suiteGetUser(t, s, first.ID), first); d != "" {
			t.Errorf("original changed: %s", d)
		}
		_, err := s.UserByName(t.Context(), "bob")
		suiteCheckErr(t, "UserByName(rejected)", err, store.ErrNotFound)
	})

	t.Run("CreateConflictUsernameCaseInsensitive", func(t *testing.T) {
		for _, name := range []string{"alice", "Alice", "ALICE", "aLiCe"} {
			t.Run(name, func(t *testing.T) {
				s := newStore(t)
				first := suiteCreateUser(t, s, "Alice")
				suiteCheckErr(t, "CreateUser("+name+")", s.CreateUser(t.Context(), suiteUser(t, name)), store.ErrConflict)
				users, err := s.ListUsers(t.Context())
				suiteCheckErr(t, "ListUsers", err, nil)
				if len(users) != 1 || users[0].ID != first.ID {
					t.Errorf("ListUsers = %d users, want only the first", len(users))
				}
			})
		}
	})

	t.Run("ListOrderedByUsername", func(t *testing.T) {
		s := newStore(t)
		users, err := s.ListUsers(t.Context())
		suiteCheckErr(t, "ListUsers(empty)", err, nil)
		if len(users) != 0 {
			t.Fatalf("ListUsers(empty) = %d users", len(users))
		}
		carol := suiteCreateUser(t, s, "carol")
		alice := suiteCreateUser(t, s, "alice")
		bob := suiteCreateUser(t, s, "bob")
		users, err = s.ListUsers(t.Context())
		suiteCheckErr(t, "ListUsers", err, nil)
		want := []store.User{alice, bob, carol}
		if len(users) != len(want) {
			t.Fatalf("ListUsers = %d users, want %d", len(users), len(want))
		}
		for i := range want {
			if d := suiteUserDiff(users[i], want[i]); d != "" {
				t.Errorf("ListUsers[%d]: %s", i, d)
			}
		}
	})

	t.Run("UpgradePasswordHash", func(t *testing.T) {
		s := newStore(t)
		u := suiteCreateUser(t, s, "alice")
		suiteCheckErr(t, "UpgradePasswordHash", s.UpgradePasswordHash(t.Context(), u.ID, u.PasswordHash, "$argon2id$new"), nil)
		want := u
		want.PasswordHash = "$argon2id$new" // and PasswordChangedAt untouched
		got := suiteGetUser(t, s, u.ID)
		got.UpdatedAt = want.UpdatedAt // a backend may or may not bump UpdatedAt
		if d := suiteUserDiff(got, want); d != "" {
			t.Errorf("after upgrade: %s", d)
		}
	})

	t.Run("UpgradePasswordHashConflict", func(t *testing.T) {
		s := newStore(t)
		u := suiteCreateUser(t, s, "alice")
		err := s.UpgradePasswordHash(t.Context(), u.ID, "$argon2id$stale", "$argon2id$new")
		suiteCheckErr(t, "UpgradePasswordHash(stale old hash)", err, store.ErrConflict)
		if d := suiteUserDiff(suiteGetUser(t, s, u.ID), u); d != "" {
			t.Errorf("user changed: %s", d)
		}
	})

	t.Run("UpgradeAfterSetPasswordConflicts", func(t *testing.T) {
		// A login that verified the old hash must not undo a password change
		// that happened meanwhile.
		s := newStore(t)
		u := suiteCreateUser(t, s, "alice")
		at := suiteNow()
		suiteCheckErr(t, "SetPassword", s.SetPassword(t.Context(), u.ID, "$argon2id$changed", at), nil)
		err := s.UpgradePasswordHash(t.Context(), u.ID, u.PasswordHash, "$argon2id$rehash")
		suiteCheckErr(t, "UpgradePasswordHash(after change)", err, store.ErrConflict)
		if got := suiteGetUser(t, s, u.ID).PasswordHash; got != "$argon2id$changed" {
			t.Errorf("PasswordHash = %q, want the changed one", got)
		}
	})

	t.Run("SetPassword", func(t *testing.T) {
		s := newStore(t)
		u := suiteCreateUser(t, s, "alice")
		at := suiteNow()
		suiteCheckErr(t, "SetPassword", s.SetPassword(t.Context(), u.ID, "$argon2id$changed", at), nil)
		want := u
		want.PasswordHash = "$argon2id$changed"
		want.PasswordChangedAt = at
		want.UpdatedAt = at
		want.CredentialEpoch++ // a credential change ends the user's sessions
		if d := suiteUserDiff(suiteGetUser(t, s, u.ID), want); d != "" {
			t.Errorf("after SetPassword: %s", d)
		}
	})

	t.Run("SetDisabled", func(t *testing.T) {
		s := newStore(t)
		u := suiteCreateUser(t, s, "alice")
		other := suiteCreateUser(t, s, "bob")
		want := u
		for i, disabled := range []bool{true, false, true} {
			at := suiteNow().Add(time.Duration(i) * time.Second)
			suiteCheckErr(t, "SetDisabled", s.SetDisabled(t.Context(), u.ID, disabled, at), nil)
			want.Disabled, want.UpdatedAt = disabled, at
			want.CredentialEpoch++
			if d := suiteUserDiff(suiteGetUser(t, s, u.ID), want); d != "" {
				t.Errorf("after SetDisabled(%v): %s", disabled, d)
			}
		}
		if d := suiteUserDiff(suiteGetUser(t, s, other.ID), other); d != "" {
			t.Errorf("other user changed: %s", d)
		}
	})

	t.Run("UnknownUser", func(t *testing.T) {
		cases := []struct {
			name string
			call func(ctx context.Context, s store.UserStore, id string) error
		}{
			{"UpgradePasswordHash", func(ctx context.Context, s store.UserStore, id string) error {
				return s.UpgradePasswordHash(ctx, id, "a", "b")
			}},
			{"SetPassword", func(ctx context.Context, s store.UserStore, id string) error {
				return s.SetPassword(ctx, id, "$argon2id$x", suiteNow())
			}},
			{"SetDisabled", func(ctx context.Context, s store.UserStore, id string) error {
				return s.SetDisabled(ctx, id, true, suiteNow())
			}},
			{"DeleteUser", func(ctx context.Context, s store.UserStore, id string) error {
				return s.DeleteUser(ctx, id)
			}},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				s := newStore(t)
				existing := suiteCreateUser(t, s, "alice")
				suiteCheckErr(t, tc.name, tc.call(t.Context(), s, suiteUUID(t)), store.ErrNotFound)
				if d := suiteUserDiff(suiteGetUser(t, s, existing.ID), existing); d != "" {
					t.Errorf("existing user changed: %s", d)
				}
			})
		}
	})

	t.Run("DeleteUser", func(t *testing.T) {
		s := newStore(t)
		u := suiteCreateUser(t, s, "Alice")
		other := suiteCreateUser(t, s, "bob")
		suiteCheckErr(t, "DeleteUser", s.DeleteUser(t.Context(), u.ID), nil)
		_, err := s.UserByID(t.Context(), u.ID)
		suiteCheckErr(t, "UserByID(deleted)", err, store.ErrNotFound)
		_, err = s.UserByName(t.Context(), "alice")
		suiteCheckErr(t, "UserByName(deleted)", err, store.ErrNotFound)
		suiteCheckErr(t, "DeleteUser(again)", s.DeleteUser(t.Context(), u.ID), store.ErrNotFound)
		if d := suiteUserDiff(suiteGetUser(t, s, other.ID), other); d != "" {
			t.Errorf("other user changed: %s", d)
		}
		// The username is free again (for a new user with a new ID).
		suiteCreateUser(t, s, "ALICE")
	})
}
