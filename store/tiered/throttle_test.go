package tiered

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/tokenserver/tokenserver/store"
	"github.com/tokenserver/tokenserver/store/memory"
	"github.com/tokenserver/tokenserver/store/storetest"
)

func TestThrottleConformance(t *testing.T) {
	storetest.TestLoginThrottle(t, func(t *testing.T) store.LoginThrottle {
		return NewThrottle(sharedRedis(t), memory.New(time.Now), nil)
	})
}

// throttleStub injects errors; nil fields pass through to next.
type throttleStub struct {
	next    store.LoginThrottle
	reserve func(context.Context, []store.ThrottleKey) (time.Duration, error)
	release func(context.Context, []store.ThrottleKey) error
}

func (s throttleStub) Reserve(ctx context.Context, k []store.ThrottleKey) (time.Duration, error) {
	if s.reserve != nil {
		return s.reserve(ctx, k)
	}
	return s.next.Reserve(ctx, k)
}

func (s throttleStub) Release(ctx context.Context, k []store.ThrottleKey) error {
	if s.release != nil {
		return s.release(ctx, k)
	}
	return s.next.Release(ctx, k)
}

// reserveOK reserves on th and fails the test unless it was granted.
func reserveOK(t *testing.T, th store.LoginThrottle, what string, keys []store.ThrottleKey) {
	t.Helper()
	if wait, err := th.Reserve(t.Context(), keys); err != nil || wait != 0 {
		t.Fatalf("%s: Reserve = %v, %v; want 0, nil", what, wait, err)
	}
}

// reserveRefused reserves on th and fails the test unless it was refused.
func reserveRefused(t *testing.T, th store.LoginThrottle, what string, keys []store.ThrottleKey) {
	t.Helper()
	if wait, err := th.Reserve(t.Context(), keys); err != nil || wait <= 0 {
		t.Fatalf("%s: Reserve = %v, %v; want a wait", what, wait, err)
	}
}

// With Redis down, attempts are counted locally and still refuse; the
// switch and the recovery are logged once each, and attempts counted during
// the outage still count after it.
func TestThrottleFallsBack(t *testing.T) {
	srv, primary := ownRedis(t)
	logger, logs := newLogger()
	th := NewThrottle(primary, memory.New(time.Now), logger)
	keys := []store.ThrottleKey{{Key: "user:alice", Limit: 3, Window: time.Minute}}
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		reserveOK(t, th, "Redis down, under the limit", keys)
	}
	reserveRefused(t, th, "Redis down, at the limit", keys)
	if err := th.Release(t.Context(), keys); err != nil {
		t.Fatalf("Release with Redis down = %v, want the fallback to give it back", err)
	}
	reserveOK(t, th, "Redis down, after a release", keys)
	reserveRefused(t, th, "Redis down, at the limit again", keys)
	if n := logs.count("login throttle primary failed"); n != 1 {
		t.Errorf("fallback logged %d times, want once", n)
	}

	if err := srv.Restart(); err != nil { // back, and empty
		t.Fatal(err)
	}
	reserveRefused(t, th, "after recovery", keys)
	other := []store.ThrottleKey{{Key: "user:bob", Limit: 3, Window: time.Minute}}
	reserveOK(t, th, "another key after recovery", other)
	if n := logs.count("login throttle primary recovered"); n != 1 {
		t.Errorf("recovery logged %d times, want once", n)
	}
	reserveOK(t, th, "another key after recovery", other)
	if n := logs.count("login throttle primary recovered"); n != 1 {
		t.Errorf("recovery logged %d times after another Reserve, want once", n)
	}
}

// While the primary answers, the fallback holds nothing: its probe is given
// back whether the primary reserves or refuses, so a later outage starts
// from zero locally instead of refusing on counts the primary already has.
func TestThrottleProbeGivenBack(t *testing.T) {
	fallback := memory.New(time.Now)
	th := NewThrottle(sharedRedis(t), fallback, nil)
	keys := []store.ThrottleKey{
		{Key: "user:alice", Limit: 3, Window: time.Minute},
		{Key: "ip:192.0.2.1", Limit: 10, Window: time.Minute},
	}
	for range 3 {
		reserveOK(t, th, "under the limit", keys)
	}
	reserveRefused(t, th, "at the primary's limit", keys)
	for range 3 {
		reserveOK(t, fallback, "fallback after the primary held every attempt", keys)
	}
	reserveRefused(t, fallback, "fallback at its own limit", keys)
}

// During an outage the fallback alone is atomic: concurrent guesses get at
// most the limit.
func TestThrottleFallbackConcurrent(t *testing.T) {
	th := NewThrottle(unreachableRedis(t), memory.New(time.Now), nil)
	keys := []store.ThrottleKey{
		{Key: "user:alice", Limit: 5, Window: time.Minute},
		{Key: "ip:192.0.2.1", Limit: 100, Window: time.Minute},
	}
	var mu sync.Mutex
	reserved := 0
	start := make(chan struct{})
	var wg sync.WaitGroup
	for range 150 {
		wg.Go(func() {
			<-start
			wait, err := th.Reserve(t.Context(), keys)
			if err != nil {
				t.Errorf("Reserve with Redis down: %v", err)
				return
			}
			if wait == 0 {
				mu.Lock()
				reserved++
				mu.Unlock()
			}
		})
	}
	close(start)
	wg.Wait()
	if reserved != 5 {
		t.Errorf("%d of 150 parallel reservations succeeded with Redis down, want exactly 5", reserved)
	}
}

// A caller that gives up while the primary is asked neither marks the
// primary as failed nor leaves a local reservation behind.
func TestThrottleCanceledReserve(t *testing.T) {
	fallback := memory.New(time.Now)
	logger, logs := newLogger()
	ctx, cancel := context.WithCancel(t.Context())
	primary := throttleStub{reserve: func(ctx context.Context, _ []store.ThrottleKey) (time.Duration, error) {
		cancel()
		return 0, ctx.Err()
	}}
	th := NewThrottle(primary, fallback, logger)
	keys := []store.ThrottleKey{{Key: "user:alice", Limit: 1, Window: time.Minute}}
	if _, err := th.Reserve(ctx, keys); !errors.Is(err, context.Canceled) {
		t.Fatalf("Reserve = %v, want context.Canceled", err)
	}
	reserveOK(t, fallback, "fallback after a canceled Reserve", keys)
	if n := logs.count("login throttle primary failed"); n != 0 {
		t.Errorf("a canceled caller was logged as a primary failure %d times", n)
	}
}

// A broken fallback costs only outage counts while the primary answers.
func TestThrottleFallbackBroken(t *testing.T) {
	errLocal := errors.New("local throttle broken")
	logger, logs := newLogger()
	fallback := throttleStub{
		reserve: func(context.Context, []store.ThrottleKey) (time.Duration, error) { return 0, errLocal },
		release: func(context.Context, []store.ThrottleKey) error { return errLocal },
	}
	th := NewThrottle(sharedRedis(t), fallback, logger)
	keys := []store.ThrottleKey{{Key: "user:alice", Limit: 2, Window: time.Minute}}
	reserveOK(t, th, "first", keys)
	reserveOK(t, th, "second", keys)
	reserveRefused(t, th, "at the primary's limit", keys)
	if err := th.Release(t.Context(), keys); err != nil {
		t.Fatalf("Release = %v, want the primary to give it back", err)
	}
	reserveOK(t, th, "after a release", keys)
	if logs.count("fallback login throttle failed") == 0 {
		t.Error("broken fallback not logged")
	}
}

// Never "no limit": when both throttles fail, both operations fail.
func TestThrottleBothFail(t *testing.T) {
	errLocal := errors.New("local throttle broken")
	fallback := throttleStub{
		reserve: func(context.Context, []store.ThrottleKey) (time.Duration, error) { return 0, errLocal },
		release: func(context.Context, []store.ThrottleKey) error { return errLocal },
	}
	th := NewThrottle(unreachableRedis(t), fallback, nil)
	keys := []store.ThrottleKey{{Key: "user:alice", Limit: 3, Window: time.Minute}}
	if _, err := th.Reserve(t.Context(), keys); !errors.Is(err, errLocal) || !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Reserve = %v, want both errors", err)
	}
	if err := th.Release(t.Context(), keys); !errors.Is(err, errLocal) || !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Release = %v, want both errors", err)
	}
}
