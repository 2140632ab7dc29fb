package password

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"
)

// newFullHasher returns a Hasher with the given number of slots, all held by
// the test until it ends, a mean hash duration set to mean, and a hash of
// "pw". Its own hashes while setting up do not disturb the mean: it is set
// last.
func newFullHasher(t *testing.T, slots int, queueTimeout, mean time.Duration) (*Hasher, string) {
	t.Helper()
	h, err := NewHasher(Config{
		Params:        Params{Memory: 64, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16},
		AllowWeak:     true,
		MaxConcurrent: slots,
		QueueTimeout:  queueTimeout,
	})
	if err != nil {
		t.Fatal(err)
	}
	encoded, err := h.Hash(context.Background(), "pw")
	if err != nil {
		t.Fatal(err)
	}
	for range slots {
		if err := h.acquire(context.Background()); err != nil {
			t.Fatalf("acquire: %v", err)
		}
		t.Cleanup(h.release)
	}
	h.meanHashNanos.Store(int64(mean))
	return h, encoded
}

// waitForWaiters yields until n callers are queued for a slot. It bounds
// nothing in time: a test that never gets there is stopped by go test.
func waitForWaiters(h *Hasher, n int64) {
	for h.waiting.Load() != n {
		runtime.Gosched()
	}
}

// failSafe is a context that ends the call under test if it waits instead of
// answering at once, so a broken admission check fails the test (with a
// context error instead of ErrBusy) rather than hanging it. It is not a
// timing assertion: a passing call never comes near it.
func failSafe(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestAdmissionRejectsAtOnceWhenTheWaitWouldExceedTheQueueTimeout(t *testing.T) {
	// The queue timeout is an hour, so ErrBusy can only come from the
	// prediction, never from waiting it out.
	tests := []struct {
		name     string
		slots    int
		mean     time.Duration
		admitted int           // waiters queued before the rejected caller
		wantHint time.Duration // the rejected caller's expected wait
	}{
		{"one slot, hash longer than the timeout", 1, 2 * time.Hour, 0, 2 * time.Hour},
		{"one slot, two waiters fit", 1, 25 * time.Minute, 2, 75 * time.Minute},
		{"two slots, three waiters fit", 2, 25 * time.Minute, 3, 62*time.Minute + 30*time.Second},
		// (0 + 2) / 2 × 1h is not above the timeout; (1 + 2) / 2 × 1h is.
		{"two slots, a wait equal to the timeout is admitted", 2, time.Hour, 1, 90 * time.Minute},
	}
	for _, tt := range tests {
		for name := range operations("") {
			t.Run(tt.name+"/"+name, func(t *testing.T) {
				h, encoded := newFullHasher(t, tt.slots, time.Hour, tt.mean)
				admitted := tt.admitted
				waiters, cancel := context.WithCancel(context.Background())
				t.Cleanup(cancel)
				done := make(chan error, admitted)
				for i := range admitted {
					go func() { done <- operations(encoded)[name](waiters, h) }()
					waitForWaiters(h, int64(i+1))
				}

				err := operations(encoded)[name](failSafe(t), h)
				if !errors.Is(err, ErrBusy) {
					t.Fatalf("%s with %d waiters queued = %v, want ErrBusy at once", name, admitted, err)
				}
				if hint, ok := retryAfterHint(err); !ok || hint != tt.wantHint {
					t.Errorf("RetryAfter hint = (%s, %v), want (%s, true)", hint, ok, tt.wantHint)
				}

				cancel()
				for range admitted {
					if err := <-done; !errors.Is(err, context.Canceled) {
						t.Errorf("admitted waiter = %v, want context.Canceled (it was waiting)", err)
					}
				}
				if n := h.waiting.Load(); n != 0 {
					t.Errorf("%d waiters still counted after every caller returned", n)
				}
			})
		}
	}
}

func TestAdmittedCallerGetsTheNextSlot(t *testing.T) {
	for name := range operations("") {
		t.Run(name, func(t *testing.T) {
			// Expected wait 30 minutes, queue timeout an hour: admitted.
			h, encoded := newFullHasher(t, 1, time.Hour, 30*time.Minute)
			done := make(chan error, 1)
			go func() { done <- operations(encoded)[name](failSafe(t), h) }()
			waitForWaiters(h, 1)
			h.release()
			if err := <-done; err != nil {
				t.Fatalf("%s after release = %v", name, err)
			}
			if err := h.acquire(context.Background()); err != nil { // for the cleanup's release
				t.Fatal(err)
			}
		})
	}
}

func TestBusyAfterTheQueueTimeoutCarriesAHint(t *testing.T) {
	// A mean of 1 ns admits every caller, so this ErrBusy comes from the
	// timer.
	h, encoded := newFullHasher(t, 1, time.Millisecond, time.Nanosecond)
	_, _, err := h.Verify(context.Background(), "pw", encoded)
	if !errors.Is(err, ErrBusy) {
		t.Fatalf("Verify = %v, want ErrBusy", err)
	}
	if hint, ok := retryAfterHint(err); !ok || hint <= 0 {
		t.Fatalf("RetryAfter hint = (%s, %v), want a positive hint", hint, ok)
	}
}

// retryAfterHint reads the hint the way the HTTP layer does.
func retryAfterHint(err error) (time.Duration, bool) {
	var r interface{ RetryAfter() time.Duration }
	if !errors.As(err, &r) {
		return 0, false
	}
	return r.RetryAfter(), true
}

func TestRetryAfter(t *testing.T) {
	tests := []struct {
		slots   int
		waiting int64
		mean    time.Duration
		want    time.Duration
	}{
		{1, 0, 10 * time.Millisecond, 10 * time.Millisecond},
		{1, 3, 10 * time.Millisecond, 40 * time.Millisecond},
		{2, 0, 10 * time.Millisecond, 10 * time.Millisecond},
		{2, 3, 10 * time.Millisecond, 25 * time.Millisecond},
		{4, 8, 100 * time.Millisecond, 300 * time.Millisecond},
	}
	for _, tt := range tests {
		h, _ := newFullHasher(t, tt.slots, time.Hour, tt.mean)
		h.waiting.Store(tt.waiting)
		if got := h.RetryAfter(); got != tt.want {
			t.Errorf("%d slots, %d waiting, mean %s: RetryAfter = %s, want %s", tt.slots, tt.waiting, tt.mean, got, tt.want)
		}
		h.waiting.Store(0)
	}
}

func TestObserveMovingAverage(t *testing.T) {
	tests := []struct {
		name         string
		mean, sample time.Duration
		want         time.Duration
	}{
		{"first sample moves it an eighth from zero", 0, 80 * time.Millisecond, 10 * time.Millisecond},
		{"slower hash moves it an eighth", 80 * time.Millisecond, 160 * time.Millisecond, 90 * time.Millisecond},
		{"faster hash moves it an eighth", 80 * time.Millisecond, 40 * time.Millisecond, 75 * time.Millisecond},
		{"never below 1ns once measured", 0, 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &Hasher{}
			h.meanHashNanos.Store(int64(tt.mean))
			h.observe(tt.sample)
			if got := time.Duration(h.meanHashNanos.Load()); got != tt.want {
				t.Fatalf("mean = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestEveryHashIsMeasured(t *testing.T) {
	for name := range operations("") {
		t.Run(name, func(t *testing.T) {
			h, encoded := newOneSlotHasher(t, time.Hour)
			// Each reading of the clock is 40ms after the previous one, so
			// every hash takes 40ms.
			clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			h.now = func() time.Time { clock = clock.Add(40 * time.Millisecond); return clock }
			h.meanHashNanos.Store(int64(80 * time.Millisecond))
			if err := operations(encoded)[name](context.Background(), h); err != nil {
				t.Fatal(err)
			}
			if got, want := time.Duration(h.meanHashNanos.Load()), 75*time.Millisecond; got != want {
				t.Fatalf("mean after one 40ms %s = %s, want %s", name, got, want)
			}
		})
	}
}

func TestNewHasherStartsAdmittingEveryone(t *testing.T) {
	h, err := NewHasher(Config{Params: Params{Memory: 64, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16}, AllowWeak: true})
	if err != nil {
		t.Fatal(err)
	}
	if m := h.meanHashNanos.Load(); m != 0 {
		t.Fatalf("mean hash duration %d ns after NewHasher, want 0 (nothing measured yet)", m)
	}
	if w := h.expectedWait(1000); w != 0 {
		t.Fatalf("expected wait behind 1000 callers before any measurement = %s, want 0", w)
	}
}

func TestMaxConcurrent(t *testing.T) {
	tests := []struct {
		configured, want int
	}{
		{3, 3},
		{1, 1},
		{0, runtime.GOMAXPROCS(0)},
	}
	for _, tt := range tests {
		h, err := NewHasher(Config{Params: Params{Memory: 64, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16},
			AllowWeak: true, MaxConcurrent: tt.configured})
		if err != nil {
			t.Fatal(err)
		}
		if got := h.MaxConcurrent(); got != tt.want {
			t.Errorf("MaxConcurrent %d configured: MaxConcurrent() = %d, want %d", tt.configured, got, tt.want)
		}
	}
}
