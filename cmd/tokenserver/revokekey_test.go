package main

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/tokenserver/tokenserver/store"
	"github.com/tokenserver/tokenserver/store/memory"
)

// failingRevocations is a RevocationStore whose Revoke fails (a stub only
// to inject the error).
type failingRevocations struct {
	store.RevocationStore
	err error
}

func (f failingRevocations) Revoke(context.Context, store.Revocation) error { return f.err }

func TestRevokeSigningKey(t *testing.T) {
	now := time.Unix(1_750_000_000, 0).UTC()
	tests := []struct {
		name                  string
		accessTTL, jwksMaxAge time.Duration
		clientTTL             time.Duration // a registered client's own access-token TTL
		wantLifetime          time.Duration
	}{
		{"access TTL longest", 15 * time.Minute, 10 * time.Minute, 0, 16 * time.Minute},
		{"JWKS max-age longest", 5 * time.Minute, 10 * time.Minute, 0, 11 * time.Minute},
		{"a client's TTL longest", 15 * time.Minute, 10 * time.Minute, time.Hour, 61 * time.Minute},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			mem := memory.New(func() time.Time { return now })
			if tc.clientTTL > 0 {
				if err := mem.CreateClient(ctx, store.Client{ID: "long", AccessTokenTTL: tc.clientTTL}); err != nil {
					t.Fatal(err)
				}
			}
			events, err := mem.Subscribe(ctx)
			if err != nil {
				t.Fatal(err)
			}
			<-events // the initial Resync
			b := &backends{clients: mem, revocations: mem, feed: mem}
			if err := revokeSigningKey(ctx, b, "kid-1", tc.accessTTL, tc.jwksMaxAge, now, slog.New(slog.DiscardHandler)); err != nil {
				t.Fatal(err)
			}
			want := store.Revocation{Kind: store.RevokeKID, Value: "kid-1", ExpiresAt: now.Add(tc.wantLifetime), CreatedAt: now}
			active, err := mem.Active(ctx, now)
			if err != nil {
				t.Fatal(err)
			}
			if len(active) != 1 || active[0] != want {
				t.Errorf("recorded %+v, want [%+v]", active, want)
			}
			select {
			case ev := <-events:
				if ev.Revocation == nil || *ev.Revocation != want {
					t.Errorf("published %+v, want %+v", ev, want)
				}
			case <-time.After(20 * time.Second): // hang detector
				t.Fatal("nothing published")
			}
		})
	}
}

// When the durable record fails nothing is published: a revocation that is
// on the feed but in no store would vanish at the next resynchronisation.
func TestRevokeSigningKeyRecordFails(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1_750_000_000, 0).UTC()
	mem := memory.New(func() time.Time { return now })
	events, err := mem.Subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	<-events
	boom := errors.New("database down")
	b := &backends{clients: mem, revocations: failingRevocations{mem, boom}, feed: mem}
	err = revokeSigningKey(ctx, b, "kid-1", time.Minute, time.Minute, now, slog.New(slog.DiscardHandler))
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "kid-1") {
		t.Fatalf("err = %v, want the store's error naming the key", err)
	}
	select {
	case ev := <-events:
		t.Errorf("published %+v after a failed record", ev)
	default:
	}
}
