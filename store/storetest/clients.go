package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/tokenserver/tokenserver/store"
)

// suiteClient returns a fully populated confidential client.
func suiteClient(t testing.TB, id string) store.Client {
	t.Helper()
	return store.Client{
		ID:                 id,
		SecretHash:         "$argon2id$v=19$m=19456,t=2,p=1$" + suiteName(t, "salt") + "$" + suiteName(t, "hash"),
		Grants:             []string{"password", "refresh_token"},
		Scopes:             []string{"read", "write", "admin"},
		Audience:           []string{"https://api.example.com", "https://other.example.com"},
		AccessTokenTTL:     5 * time.Minute,
		RefreshIdleTTL:     24 * time.Hour,
		RefreshAbsoluteTTL: 30 * 24 * time.Hour,
		CreatedAt:          suiteNow().Add(-time.Hour),
		// A rotation in its overlap window, so every round trip covers it.
		PreviousSecretHash:      "sha256:" + suiteName(t, "previous"),
		PreviousSecretExpiresAt: suiteNow().Add(time.Hour),
	}
}

// suiteClientDiff names the fields in which got differs from want, or
// returns "". A nil and an empty slice are the same (a database may not tell
// them apart). Secret hashes are never printed.
func suiteClientDiff(got, want store.Client) string {
	d := suiteTimeDiff("CreatedAt", got.CreatedAt, want.CreatedAt) +
		suiteTimeDiff("PreviousSecretExpiresAt", got.PreviousSecretExpiresAt, want.PreviousSecretExpiresAt)
	for _, f := range []struct {
		name string
		same bool
	}{
		{"ID", got.ID == want.ID},
		{"SecretHash", got.SecretHash == want.SecretHash},
		{"PreviousSecretHash", got.PreviousSecretHash == want.PreviousSecretHash},
		{"Grants", slices.Equal(got.Grants, want.Grants)},
		{"Scopes", slices.Equal(got.Scopes, want.Scopes)},
		{"Audience", slices.Equal(got.Audience, want.Audience)},
		{"AccessTokenTTL", got.AccessTokenTTL == want.AccessTokenTTL},
		{"RefreshIdleTTL", got.RefreshIdleTTL == want.RefreshIdleTTL},
		{"RefreshAbsoluteTTL", got.RefreshAbsoluteTTL == want.RefreshAbsoluteTTL},
		{"RequireDPoP", got.RequireDPoP == want.RequireDPoP},
	} {
		if !f.same {
			d += f.name + " differs; "
		}
	}
	return d
}

// suiteCreateClient stores c and fails the test on error.
func suiteCreateClient(t testing.TB, s store.ClientStore, c store.Client) {
	t.Helper()
	if err := s.CreateClient(t.Context(), c); err != nil {
		t.Fatalf("CreateClient(%q): %v", c.ID, err)
	}
}

// TestClientStore runs the conformance suite for store.ClientStore. newStore
// must return a fresh, empty store for each call.
func TestClientStore(t *testing.T, newStore func(*testing.T) store.ClientStore) {
	testClientTokenClaims(t, newStore)
	testClientRequireDPoP(t, newStore)
	t.Run("CreateAndGet", func(t *testing.T) {
		cases := []struct {
			name   string
			client func(t *testing.T) store.Client
		}{
			{"Confidential", func(t *testing.T) store.Client { return suiteClient(t, "web-app") }},
			{"Public", func(t *testing.T) store.Client {
				c := suiteClient(t, "mobile-app")
				c.SecretHash = ""
				c.Audience = nil
				c.AccessTokenTTL, c.RefreshIdleTTL, c.RefreshAbsoluteTTL = 0, 0, 0
				return c
			}},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				s := newStore(t)
				want := tc.client(t)
				suiteCreateClient(t, s, want)
				got, err := s.ClientByID(t.Context(), want.ID)
				suiteCheckErr(t, "ClientByID", err, nil)
				if d := suiteClientDiff(got, want); d != "" {
					t.Errorf("ClientByID: %s", d)
				}
				if got.Public() != want.Public() {
					t.Errorf("Public() = %v, want %v", got.Public(), want.Public())
				}
			})
		}
	})

	t.Run("NoAliasing", func(t *testing.T) {
		s := newStore(t)
		c := suiteClient(t, "web-app")
		want := suiteClient(t, "web-app")
		want.SecretHash, want.CreatedAt = c.SecretHash, c.CreatedAt
		want.PreviousSecretHash, want.PreviousSecretExpiresAt = c.PreviousSecretHash, c.PreviousSecretExpiresAt
		suiteCreateClient(t, s, c)
		c.Scopes[0] = "mutated-after-create"
		got, err := s.ClientByID(t.Context(), c.ID)
		suiteCheckErr(t, "ClientByID", err, nil)
		got.Grants[0] = "mutated-after-read"
		again, err := s.ClientByID(t.Context(), c.ID)
		suiteCheckErr(t, "ClientByID(again)", err, nil)
		if d := suiteClientDiff(again, want); d != "" {
			t.Errorf("stored client shares memory with a caller: %s", d)
		}
	})

	t.Run("NotFound", func(t *testing.T) {
		s := newStore(t)
		suiteCreateClient(t, s, suiteClient(t, "web-app"))
		_, err := s.ClientByID(t.Context(), "other-app")
		suiteCheckErr(t, "ClientByID(unknown)", err, store.ErrNotFound)
		suiteCheckErr(t, "DeleteClient(unknown)", s.DeleteClient(t.Context(), "other-app"), store.ErrNotFound)
	})

	// See the users suite's NotFoundNotText: a client id no row can hold is
	// not found, whether read or deleted, and nothing changes.
	t.Run("NotFoundNotText", func(t *testing.T) {
		for _, id := range suiteNotText("app-a") {
			t.Run(fmt.Sprintf("%q", id), func(t *testing.T) {
				s := newStore(t)
				existing := suiteClient(t, "app-a")
				suiteCreateClient(t, s, existing)
				_, err := s.ClientByID(t.Context(), id)
				suiteCheckErr(t, fmt.Sprintf("ClientByID(%q)", id), err, store.ErrNotFound)
				suiteCheckErr(t, fmt.Sprintf("DeleteClient(%q)", id), s.DeleteClient(t.Context(), id), store.ErrNotFound)
				got, err := s.ClientByID(t.Context(), existing.ID)
				suiteCheckErr(t, "ClientByID(existing)", err, nil)
				if d := suiteClientDiff(got, existing); d != "" {
					t.Errorf("existing client changed: %s", d)
				}
			})
		}
	})

	t.Run("CreateConflict", func(t *testing.T) {
		s := newStore(t)
		first := suiteClient(t, "web-app")
		suiteCreateClient(t, s, first)
		dup := suiteClient(t, "web-app")
		dup.Scopes = []string{"other"}
		suiteCheckErr(t, "CreateClient(same id)", s.CreateClient(t.Context(), dup), store.ErrConflict)
		got, err := s.ClientByID(t.Context(), first.ID)
		suiteCheckErr(t, "ClientByID", err, nil)
		if d := suiteClientDiff(got, first); d != "" {
			t.Errorf("original changed: %s", d)
		}
	})

	t.Run("ListOrderedByID", func(t *testing.T) {
		s := newStore(t)
		got, err := s.ListClients(t.Context())
		suiteCheckErr(t, "ListClients(empty)", err, nil)
		if len(got) != 0 {
			t.Fatalf("ListClients(empty) = %d clients", len(got))
		}
		want := []store.Client{suiteClient(t, "a-app"), suiteClient(t, "b-app"), suiteClient(t, "c-app")}
		for _, i := range []int{2, 0, 1} {
			suiteCreateClient(t, s, want[i])
		}
		got, err = s.ListClients(t.Context())
		suiteCheckErr(t, "ListClients", err, nil)
		if len(got) != len(want) {
			t.Fatalf("ListClients = %d clients, want %d", len(got), len(want))
		}
		for i := range want {
			if d := suiteClientDiff(got[i], want[i]); d != "" {
				t.Errorf("ListClients[%d] (%s): %s", i, got[i].ID, d)
			}
		}
	})

	t.Run("DeleteClient", func(t *testing.T) {
		s := newStore(t)
		c := suiteClient(t, "web-app")
		other := suiteClient(t, "other-app")
		suiteCreateClient(t, s, c)
		suiteCreateClient(t, s, other)
		suiteCheckErr(t, "DeleteClient", s.DeleteClient(t.Context(), c.ID), nil)
		_, err := s.ClientByID(t.Context(), c.ID)
		suiteCheckErr(t, "ClientByID(deleted)", err, store.ErrNotFound)
		suiteCheckErr(t, "DeleteClient(again)", s.DeleteClient(t.Context(), c.ID), store.ErrNotFound)
		got, err := s.ClientByID(t.Context(), other.ID)
		suiteCheckErr(t, "ClientByID(other)", err, nil)
		if d := suiteClientDiff(got, other); d != "" {
			t.Errorf("other client changed: %s", d)
		}
	})
}
