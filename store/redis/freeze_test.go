package redis

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/tokenserver/tokenserver/store"
	"github.com/tokenserver/tokenserver/store/storetest"
)

// A redis-server stopped with SIGSTOP keeps its connections open and lets
// the kernel accept new ones, but answers nothing: every call, pipelines,
// WATCH transactions, Lua scripts, SCAN and subscriptions included, must
// still end with store.ErrUnavailable (ReadTimeout, WriteTimeout,
// PoolTimeout), and work again after the thaw.
func TestFrozenServer(t *testing.T) {
	srv, err := storetest.StartRedisServer()
	if err != nil {
		t.Fatalf("redis-server: %v", err)
	}
	t.Cleanup(func() { _ = srv.Stop() })
	// Two connections, so that calls also queue for the pool.
	s, err := Open(t.Context(), Config{URL: "redis://" + srv.Addr + "?pool_size=2", Prefix: "frozen:"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	markReady(t, s)

	keys := []store.ThrottleKey{{Key: "k", Limit: 3, Window: time.Minute}}
	r := store.Revocation{Kind: store.RevokeJTI, Value: "x", ExpiresAt: time.Now().Add(time.Hour)}
	ops := []struct {
		name string
		op   func(context.Context) error
	}{
		{"Ping", s.Ping},
		{"Revoke", func(ctx context.Context) error { return s.Revoke(ctx, r) }}, // WATCH + MULTI
		{"IsRevoked", func(ctx context.Context) error { // pipeline
			_, err := s.IsRevoked(ctx, store.RevocationQuery{JTI: "x", SID: "y", Sub: "z"}, time.Now())
			return err
		}},
		{"Active", func(ctx context.Context) error { _, err := s.Active(ctx, time.Now()); return err }}, // SCAN
		{"Publish", func(ctx context.Context) error { return s.Publish(ctx, r) }},
		{"Subscribe", func(ctx context.Context) error {
			ctx, cancel := context.WithCancel(ctx)
			defer cancel()
			_, err := s.Subscribe(ctx)
			return err
		}},
		{"Reserve", func(ctx context.Context) error { _, err := s.Reserve(ctx, keys); return err }}, // EVAL
		{"Release", func(ctx context.Context) error { return s.Release(ctx, keys) }},
		{"BeginSeed", func(ctx context.Context) error { _, err := s.BeginSeed(ctx); return err }},
	}
	run := func() map[string]error {
		var mu sync.Mutex
		errs := map[string]error{}
		var longest time.Duration
		var wg sync.WaitGroup
		for _, o := range ops {
			wg.Add(1)
			go func() {
				defer wg.Done()
				start := time.Now()
				err := o.op(context.Background()) // no deadline but the store's own
				mu.Lock()
				errs[o.name], longest = err, max(longest, time.Since(start))
				t.Logf("%s: %v %v", o.name, time.Since(start), err)
				mu.Unlock()
			}()
		}
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second): // a hang detector, not a target
			_ = srv.Thaw()
			t.Fatal("calls still running after 30s")
		}
		t.Logf("longest call: %v", longest)
		return errs
	}
	for name, err := range run() {
		if err != nil {
			t.Fatalf("before freeze: %s: %v", name, err)
		}
	}
	if err := srv.Freeze(); err != nil {
		t.Fatal(err)
	}
	errs := run()
	if err := srv.Thaw(); err != nil {
		t.Fatal(err)
	}
	for _, o := range ops {
		if !errors.Is(errs[o.name], store.ErrUnavailable) {
			t.Errorf("%s while frozen: %v, want store.ErrUnavailable", o.name, errs[o.name])
		}
	}
	for name, err := range run() {
		if err != nil {
			t.Errorf("%s after thaw: %v", name, err)
		}
	}
}
