package postgres

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tokenserver/tokenserver/store"
)

func TestPurge(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	now := time.Now().UTC().Truncate(time.Microsecond)
	user := store.User{ID: "6f1c1f38-8a4e-4c1b-9a53-3a0d2d6d8b01", Username: "purge", PasswordHash: "x", CreatedAt: now, UpdatedAt: now, PasswordChangedAt: now}
	if err := s.CreateUser(ctx, user); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateClient(ctx, store.Client{ID: "c", Grants: []string{"refresh_token"}, CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	family := func(id string, expires, revoked time.Time) {
		t.Helper()
		f := store.RefreshFamily{ID: id, ClientID: "c", UserID: user.ID, Username: "purge", Scope: "read", CreatedAt: now.Add(-time.Hour), ExpiresAt: expires}
		tok := store.RefreshToken{Hash: id + "-hash", IssuedAt: now.Add(-time.Hour), IdleExpiresAt: expires}
		if err := s.CreateFamily(ctx, f, tok); err != nil {
			t.Fatal(err)
		}
		if !revoked.IsZero() {
			if err := s.RevokeFamily(ctx, id, revoked); err != nil {
				t.Fatal(err)
			}
		}
	}
	family("live", now.Add(time.Hour), time.Time{})
	family("expired", now.Add(-time.Minute), time.Time{})
	family("revoked-long-ago", now.Add(time.Hour), now.Add(-time.Minute))
	family("revoked-just-now", now.Add(time.Hour), now.Add(time.Second))
	for _, r := range []store.Revocation{
		{Kind: store.RevokeJTI, Value: "old", ExpiresAt: now.Add(-time.Second), CreatedAt: now.Add(-time.Hour)},
		{Kind: store.RevokeJTI, Value: "live", ExpiresAt: now.Add(time.Hour), CreatedAt: now},
	} {
		if err := s.Revoke(ctx, r); err != nil {
			t.Fatal(err)
		}
	}

	n, err := s.Purge(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Errorf("Purge deleted %d records, want 3 (two families, one revocation)", n)
	}
	for id, wantGone := range map[string]bool{"live": false, "expired": true, "revoked-long-ago": true, "revoked-just-now": false} {
		_, _, err := s.Lookup(ctx, id+"-hash")
		if gone := errors.Is(err, store.ErrNotFound); gone != wantGone {
			t.Errorf("family %s: Lookup error %v, want gone=%v", id, err, wantGone)
		}
	}
	active, err := s.Active(ctx, now.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(active) != 1 || active[0].Value != "live" {
		t.Errorf("revocations after Purge: %+v, want only the live one", active)
	}
	if n, err := s.Purge(ctx, now); err != nil || n != 0 {
		t.Errorf("second Purge: %d, %v; want 0, nil", n, err)
	}
}
