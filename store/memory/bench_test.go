package memory_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tokenserver/tokenserver/store"
	"github.com/tokenserver/tokenserver/store/memory"
)

// BenchmarkIsRevoked measures the denylist check every access-token
// verification makes, with 10,000 entries and parallel readers.
func BenchmarkIsRevoked(b *testing.B) {
	ctx := context.Background()
	now := time.Now()
	s := memory.New(nil)
	for i := range 10_000 {
		r := store.Revocation{Kind: store.RevokeJTI, Value: fmt.Sprintf("jti-%d", i), ExpiresAt: now.Add(time.Hour)}
		if err := s.Revoke(ctx, r); err != nil {
			b.Fatal(err)
		}
	}
	q := store.RevocationQuery{JTI: "jti-absent", SID: "sid", Sub: "sub", IssuedAt: now}
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if revoked, err := s.IsRevoked(ctx, q, now); err != nil || revoked {
				b.Fatal(revoked, err)
			}
		}
	})
}

// BenchmarkRotate measures one refresh-token rotation along a long chain.
func BenchmarkRotate(b *testing.B) {
	ctx := context.Background()
	now := time.Now()
	s := memory.New(nil)
	if err := s.CreateUser(ctx, store.User{ID: "u", Username: "alice"}); err != nil {
		b.Fatal(err)
	}
	if err := s.CreateClient(ctx, store.Client{ID: "c"}); err != nil {
		b.Fatal(err)
	}
	hashes := make([]string, b.N+1)
	for i := range hashes {
		hashes[i] = fmt.Sprintf("%064x", i)
	}
	f := store.RefreshFamily{ID: "f", ClientID: "c", UserID: "u", ExpiresAt: now.Add(time.Hour)}
	if err := s.CreateFamily(ctx, f, store.RefreshToken{Hash: hashes[0], IdleExpiresAt: now.Add(time.Hour)}); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := range b.N {
		req := store.RotateRequest{
			OldHash: hashes[i], ClientID: "c", Now: now,
			New: store.RefreshToken{Hash: hashes[i+1], IssuedAt: now, IdleExpiresAt: now.Add(time.Minute)},
		}
		if _, err := s.Rotate(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}
