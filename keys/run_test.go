package keys

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokenserver/tokenserver/store"
)

// eventually polls cond until it holds or a generous deadline passes (a
// correctness check, not a timing assertion).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// startRun runs m.Run until the test ends and checks it returns ctx's error.
func startRun(t *testing.T, m *Manager) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run returned %v, want context.Canceled", err)
		}
	})
}

func TestRunReloadsPeriodically(t *testing.T) {
	env := newEnv(t)
	m1 := env.manager(func(c *Config) { c.RefreshInterval = 10 * time.Millisecond })
	m2 := env.manager()
	startRun(t, m1)
	if err := m2.RotateNow(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := signingKidOf(t, m2)
	eventually(t, "m1 to pick up m2's rotation", func() bool { return signingKidOf(t, m1) == want })
}

func TestRunRotatesOnSchedule(t *testing.T) {
	env := newEnv(t)
	m := env.manager(func(c *Config) {
		c.RefreshInterval = 10 * time.Millisecond
		c.RotationPeriod = time.Hour
	})
	kid := signingKidOf(t, m)
	startRun(t, m)
	env.clock.Advance(time.Hour)
	eventually(t, "the scheduled rotation", func() bool { return signingKidOf(t, m) != kid })
	if got := env.byState(ES256); got[store.KeyCurrent] != 1 || got[store.KeyRetired] != 1 || got[store.KeyNext] != 1 {
		t.Fatalf("states %v", got)
	}
}

// flakyKeys is the memory store with an injectable read error.
type flakyKeys struct {
	store.KeyStore
	fail atomic.Bool
}

func (f *flakyKeys) Keys(ctx context.Context) ([]store.SigningKey, error) {
	if f.fail.Load() {
		return nil, fmt.Errorf("flaky: %w", store.ErrUnavailable)
	}
	return f.KeyStore.Keys(ctx)
}

func TestReloadFailureKeepsTheLastSet(t *testing.T) {
	env := newEnv(t)
	flaky := &flakyKeys{KeyStore: env.store}
	m := env.manager(func(c *Config) {
		c.Store = flaky
		c.RefreshInterval = 10 * time.Millisecond
	})
	tok := mustSign(t, m, `{}`)
	body, etag := m.JWKS()
	flaky.fail.Store(true)

	err := m.Reload(context.Background())
	if !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Reload: %v, want ErrUnavailable", err)
	}
	if _, err := m.Verify(tok); err != nil {
		t.Fatalf("Verify after a failed reload: %v", err)
	}
	if b, e := m.JWKS(); string(b) != string(body) || e != etag {
		t.Fatal("JWKS changed after a failed reload")
	}
	if err := m.Ready(); err != nil {
		t.Fatalf("Ready without Run: %v", err)
	}

	// While Run cannot re-read the set, readiness fails once it is stale.
	startRun(t, m)
	eventually(t, "Run to start", m.running.Load)
	env.clock.Advance(time.Hour)
	if err := m.Ready(); err == nil {
		t.Fatal("Ready with a set not re-read for an hour")
	}
	flaky.fail.Store(false)
	eventually(t, "readiness after the store recovers", func() bool { return m.Ready() == nil })
}

func TestRunPEMWaitsForContext(t *testing.T) {
	m := staticManager(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := m.Run(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Run = %v", err)
	}
}
