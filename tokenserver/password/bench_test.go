package password_test

import (
	"context"
	"testing"
	"time"

	"github.com/tokenserver/tokenserver/tokenserver/password"
)

func newOWASPHasher(b *testing.B) (*password.Hasher, string) {
	b.Helper()
	// QueueTimeout is long so the parallel benchmark measures queueing, not
	// ErrBusy.
	h, err := password.NewHasher(password.Config{QueueTimeout: time.Minute})
	if err != nil {
		b.Fatal(err)
	}
	encoded, err := h.Hash(context.Background(), "correct horse battery staple")
	if err != nil {
		b.Fatal(err)
	}
	return h, encoded
}

// BenchmarkVerifyOWASP is the cost of one login at the OWASP minimum.
func BenchmarkVerifyOWASP(b *testing.B) {
	h, encoded := newOWASPHasher(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if ok, _, err := h.Verify(ctx, "correct horse battery staple", encoded); err != nil || !ok {
			b.Fatalf("Verify = (%v, %v)", ok, err)
		}
	}
}

// BenchmarkVerifyParallel is login throughput with GOMAXPROCS slots.
func BenchmarkVerifyParallel(b *testing.B) {
	h, encoded := newOWASPHasher(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if ok, _, err := h.Verify(ctx, "correct horse battery staple", encoded); err != nil || !ok {
				b.Errorf("Verify = (%v, %v)", ok, err)
				return
			}
		}
	})
}
