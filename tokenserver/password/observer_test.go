package password

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// recordingObserver records the events a Hasher reports.
type recordingObserver struct {
	mu     sync.Mutex
	events []string
}

func (o *recordingObserver) add(e string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.events = append(o.events, e)
}

func (o *recordingObserver) Admitted(_ context.Context, _ time.Time, waited time.Duration) {
	if waited == 0 {
		o.add("admitted at once")
		return
	}
	o.add("admitted after waiting")
}

func (o *recordingObserver) Shed(_ context.Context, cause string, _ time.Time, _ time.Duration) {
	o.add("shed " + cause)
}

func (o *recordingObserver) Hashed(context.Context, time.Time, time.Duration) { o.add("hashed") }

func (o *recordingObserver) take() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	e := o.events
	o.events = nil
	return e
}

func newObservedHasher(t *testing.T, queueTimeout time.Duration) (*Hasher, *recordingObserver) {
	t.Helper()
	obs := &recordingObserver{}
	h, err := NewHasher(Config{
		Params:        Params{Memory: 64, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16},
		AllowWeak:     true,
		MaxConcurrent: 1,
		QueueTimeout:  queueTimeout,
		Observer:      obs,
	})
	if err != nil {
		t.Fatal(err)
	}
	obs.take() // NewHasher's own dummy hash takes no slot and reports nothing; drop anything anyway
	return h, obs
}

func equalEvents(t *testing.T, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("events = %q, want %q", got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("events = %q, want %q", got, want)
		}
	}
}

func TestObserverSeesAdmissionAndHash(t *testing.T) {
	h, obs := newObservedHasher(t, time.Hour)
	encoded, err := h.Hash(context.Background(), "pw")
	if err != nil {
		t.Fatal(err)
	}
	equalEvents(t, obs.take(), []string{"admitted at once", "hashed"})
	if _, _, err := h.Verify(context.Background(), "pw", encoded); err != nil {
		t.Fatal(err)
	}
	if err := h.VerifyDummy(context.Background(), "pw"); err != nil {
		t.Fatal(err)
	}
	equalEvents(t, obs.take(), []string{"admitted at once", "hashed", "admitted at once", "hashed"})
}

func TestObserverSeesEveryShedCause(t *testing.T) {
	t.Run("predicted wait", func(t *testing.T) {
		h, obs := newObservedHasher(t, time.Millisecond)
		if err := h.acquire(context.Background()); err != nil {
			t.Fatal(err)
		}
		defer h.release()
		h.meanHashNanos.Store(int64(time.Hour))
		obs.take()
		if err := h.VerifyDummy(failSafe(t), "pw"); !errors.Is(err, ErrBusy) {
			t.Fatalf("err = %v, want ErrBusy", err)
		}
		equalEvents(t, obs.take(), []string{"shed " + ShedPredictedWait})
	})
	t.Run("canceled", func(t *testing.T) {
		h, obs := newObservedHasher(t, time.Hour)
		if err := h.acquire(context.Background()); err != nil {
			t.Fatal(err)
		}
		defer h.release()
		obs.take()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- h.VerifyDummy(ctx, "pw") }()
		waitForWaiters(h, 1)
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
		equalEvents(t, obs.take(), []string{"shed " + ShedCanceled})
	})
	t.Run("queue timeout", func(t *testing.T) {
		h, obs := newObservedHasher(t, time.Nanosecond)
		if err := h.acquire(context.Background()); err != nil {
			t.Fatal(err)
		}
		defer h.release()
		obs.take()
		if err := h.VerifyDummy(failSafe(t), "pw"); !errors.Is(err, ErrBusy) {
			t.Fatalf("err = %v, want ErrBusy", err)
		}
		equalEvents(t, obs.take(), []string{"shed " + ShedQueueTimeout})
	})
	t.Run("admitted after waiting", func(t *testing.T) {
		h, obs := newObservedHasher(t, time.Hour)
		if err := h.acquire(context.Background()); err != nil {
			t.Fatal(err)
		}
		obs.take()
		done := make(chan error, 1)
		go func() { done <- h.VerifyDummy(failSafe(t), "pw") }()
		waitForWaiters(h, 1)
		h.release()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		equalEvents(t, obs.take(), []string{"admitted after waiting", "hashed"})
	})
}

func TestStats(t *testing.T) {
	h, _ := newObservedHasher(t, time.Hour)
	if got := h.Stats(); got != (Stats{Slots: 1}) {
		t.Fatalf("idle Stats = %+v", got)
	}
	if err := h.acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- h.VerifyDummy(failSafe(t), "pw") }()
	waitForWaiters(h, 1)
	if got := h.Stats(); got != (Stats{Slots: 1, Busy: 1, Waiting: 1}) {
		t.Fatalf("busy Stats = %+v", got)
	}
	h.release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestJoinObservers(t *testing.T) {
	if JoinObservers(nil, nil) != nil {
		t.Fatal("JoinObservers of nils is not nil")
	}
	a, b := &recordingObserver{}, &recordingObserver{}
	if JoinObservers(nil, a) != Observer(a) {
		t.Fatal("JoinObservers of one observer is not that observer")
	}
	h, err := NewHasher(Config{
		Params:    Params{Memory: 64, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16},
		AllowWeak: true,
		Observer:  JoinObservers(a, nil, b),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.VerifyDummy(context.Background(), "pw"); err != nil {
		t.Fatal(err)
	}
	for _, o := range []*recordingObserver{a, b} {
		equalEvents(t, o.take(), []string{"admitted at once", "hashed"})
	}
}
