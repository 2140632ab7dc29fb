package redis

import (
	"fmt"
	"testing"
	"time"

	"github.com/tokenserver/tokenserver/store"
	"github.com/tokenserver/tokenserver/store/storetest"
)

func openBenchStore(b *testing.B) *Store {
	b.Helper()
	target := storetest.StartRedis(b)
	s, err := Open(b.Context(), Config{URL: target.URL(), Prefix: target.Prefix})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	token, err := s.BeginSeed(b.Context()) // as the token server's reseed does
	if err == nil {
		err = s.CompleteSeed(b.Context(), token)
	}
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// IsRevoked is on every authenticated request of a resource server that
// checks the denylist: one pipelined round trip for the three keys.
func BenchmarkIsRevoked(b *testing.B) {
	s := openBenchStore(b)
	now := time.Now()
	if err := s.Revoke(b.Context(), store.Revocation{Kind: store.RevokeSub, Value: "sub-hit",
		NotBefore: now.Add(-time.Hour), ExpiresAt: now.Add(time.Hour)}); err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		q    store.RevocationQuery
		want bool
	}{
		{"Miss", store.RevocationQuery{JTI: "j", SID: "s", Sub: "sub-miss", IssuedAt: now}, false},
		{"SubHit", store.RevocationQuery{JTI: "j", SID: "s", Sub: "sub-hit", IssuedAt: now.Add(-2 * time.Hour)}, true},
	} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				got, err := s.IsRevoked(b.Context(), tc.q, now)
				if err != nil || got != tc.want {
					b.Fatalf("IsRevoked = %v, %v", got, err)
				}
			}
		})
	}
	b.Run("Parallel", func(b *testing.B) {
		q := store.RevocationQuery{JTI: "j", SID: "s", Sub: "sub-miss", IssuedAt: now}
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := s.IsRevoked(b.Context(), q, now); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

func BenchmarkRevoke(b *testing.B) {
	s := openBenchStore(b)
	exp := time.Now().Add(time.Hour)
	i := 0
	for b.Loop() {
		i++
		if err := s.Revoke(b.Context(), store.Revocation{Kind: store.RevokeJTI, Value: fmt.Sprint(i), ExpiresAt: exp}); err != nil {
			b.Fatal(err)
		}
	}
}

// Reserve runs on every password login and Release on every login that did
// not fail, each with a per-user and a per-address key.
func BenchmarkThrottle(b *testing.B) {
	s := openBenchStore(b)
	keys := []store.ThrottleKey{
		{Key: "user:alice", Limit: 1 << 30, Window: time.Minute},
		{Key: "ip:192.0.2.1", Limit: 1 << 30, Window: time.Minute},
	}
	b.Run("ReserveRelease", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.Reserve(b.Context(), keys); err != nil {
				b.Fatal(err)
			}
			if err := s.Release(b.Context(), keys); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Reserve", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.Reserve(b.Context(), keys); err != nil {
				b.Fatal(err)
			}
		}
	})
}
