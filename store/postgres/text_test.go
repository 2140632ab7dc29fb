package postgres

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tokenserver/tokenserver/store"
)

// TestNotTextNeverReachesPostgreSQL: lookups with a key PostgreSQL's text
// cannot hold (NUL, invalid UTF-8) are ErrNotFound, and writes are a plain
// error naming the problem: never SQLSTATE 22021, never ErrUnavailable
// (which the server would answer with 503 and a retry), and nothing is
// written. The lookups the conformance suites cover (UserByName,
// ClientByID, DeleteClient) are in storetest.
func TestNotTextNeverReachesPostgreSQL(t *testing.T) {
	s := newTestStore(t)
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	const userID = "00000000-0000-4000-8000-00000000a11c"
	okUser := store.User{ID: userID, Username: "alice", PasswordHash: "$argon2id$x", CreatedAt: now, UpdatedAt: now}
	if err := s.CreateUser(t.Context(), okUser); err != nil {
		t.Fatal(err)
	}
	okClient := store.Client{ID: "app", Grants: []string{"password"}, Scopes: []string{"read"}, CreatedAt: now}
	if err := s.CreateClient(t.Context(), okClient); err != nil {
		t.Fatal(err)
	}
	hash := strings.Repeat("a", 64)
	for _, bad := range []string{"a\x00b", "a\xffb"} {
		lookups := []struct {
			name string
			call func(context.Context) error
		}{
			{"Lookup", func(ctx context.Context) error { _, _, err := s.Lookup(ctx, hash[:10]+bad); return err }},
			{"RevokeFamily", func(ctx context.Context) error { return s.RevokeFamily(ctx, bad, now) }},
			{"Rotate old hash", func(ctx context.Context) error {
				_, err := s.Rotate(ctx, store.RotateRequest{OldHash: bad, ClientID: "app", Now: now,
					New: store.RefreshToken{Hash: hash, IssuedAt: now, IdleExpiresAt: now.Add(time.Hour)}})
				return err
			}},
			{"Rotate client", func(ctx context.Context) error {
				_, err := s.Rotate(ctx, store.RotateRequest{OldHash: hash, ClientID: "app" + bad, Now: now,
					New: store.RefreshToken{Hash: hash + "b", IssuedAt: now, IdleExpiresAt: now.Add(time.Hour)}})
				return err
			}},
		}
		for _, tc := range lookups {
			t.Run(tc.name+" "+strings.ToValidUTF8(bad, "?"), func(t *testing.T) {
				if err := tc.call(t.Context()); !errors.Is(err, store.ErrNotFound) {
					t.Errorf("error = %v, want ErrNotFound", err)
				}
			})
		}
		writes := []struct {
			name string
			call func(context.Context) error
		}{
			{"CreateUser username", func(ctx context.Context) error {
				return s.CreateUser(ctx, store.User{ID: "00000000-0000-4000-8000-0000000000b0", Username: "bob" + bad,
					PasswordHash: "$argon2id$x", CreatedAt: now, UpdatedAt: now})
			}},
			{"SetPassword", func(ctx context.Context) error { return s.SetPassword(ctx, userID, "$argon2id$"+bad, now) }},
			{"UpgradePasswordHash", func(ctx context.Context) error {
				return s.UpgradePasswordHash(ctx, userID, okUser.PasswordHash, "$argon2id$"+bad)
			}},
			{"CreateClient id", func(ctx context.Context) error {
				return s.CreateClient(ctx, store.Client{ID: "web" + bad, CreatedAt: now})
			}},
			{"CreateClient scope", func(ctx context.Context) error {
				return s.CreateClient(ctx, store.Client{ID: "web", Scopes: []string{"read" + bad}, CreatedAt: now})
			}},
			{"CreateFamily username", func(ctx context.Context) error {
				return s.CreateFamily(ctx, store.RefreshFamily{ID: "fam", ClientID: "app", UserID: userID, Username: "alice" + bad,
					Scope: "read", CreatedAt: now, ExpiresAt: now.Add(time.Hour)},
					store.RefreshToken{Hash: hash, FamilyID: "fam", IssuedAt: now, IdleExpiresAt: now.Add(time.Hour)})
			}},
		}
		for _, tc := range writes {
			t.Run(tc.name+" "+strings.ToValidUTF8(bad, "?"), func(t *testing.T) {
				err := tc.call(t.Context())
				if err == nil || !strings.Contains(err.Error(), "not UTF-8 text") ||
					errors.Is(err, store.ErrUnavailable) || errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound) {
					t.Errorf("error = %v, want a plain 'not UTF-8 text' error", err)
				}
			})
		}
	}
	// Nothing was written.
	users, err := s.ListUsers(t.Context())
	if err != nil || len(users) != 1 || users[0].PasswordHash != okUser.PasswordHash {
		t.Errorf("users after refused writes: %v, %v", users, err)
	}
	clients, err := s.ListClients(t.Context())
	if err != nil || len(clients) != 1 {
		t.Errorf("clients after refused writes: %v, %v", clients, err)
	}
	if _, _, err := s.Lookup(t.Context(), hash); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a refused family was stored: %v", err)
	}
}
