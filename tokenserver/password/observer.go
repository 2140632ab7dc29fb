package password

import (
	"context"
	"time"
)

// Shed causes: why acquire turned a caller away (Observer.Shed).
const (
	// ShedPredictedWait: every slot was busy and the predicted wait
	// exceeded the queue timeout, so the caller was refused at once.
	ShedPredictedWait = "predicted_wait"
	// ShedQueueTimeout: the caller waited the whole queue timeout.
	ShedQueueTimeout = "queue_timeout"
	// ShedCanceled: the caller's context ended while it waited.
	ShedCanceled = "canceled"
)

// Observer receives a Hasher's admission and hashing events, for metrics
// and traces. The hasher calls it synchronously on the caller's goroutine
// with the caller's context (so a tracer can parent spans on the request);
// implementations must be cheap and safe for concurrent use. Times come
// from the hasher's clock.
type Observer interface {
	// Admitted: the caller got a slot at start+waited (waited is zero when a
	// slot was free at once).
	Admitted(ctx context.Context, start time.Time, waited time.Duration)
	// Shed: the caller was refused a slot after waiting waited; cause is
	// one of the Shed* constants.
	Shed(ctx context.Context, cause string, start time.Time, waited time.Duration)
	// Hashed: one hash computation (argon2id, or an imported format) ran
	// from start for d while holding a slot.
	Hashed(ctx context.Context, start time.Time, d time.Duration)
}

// Stats is a snapshot of a Hasher's admission state (for gauges).
type Stats struct {
	// Slots is how many hash computations may run at once.
	Slots int
	// Busy is how many slots are held now.
	Busy int
	// Waiting is how many callers wait for a slot now.
	Waiting int
}

// Stats returns the current admission state. The fields are read one at a
// time, so under load they are approximate.
func (h *Hasher) Stats() Stats {
	return Stats{Slots: cap(h.slots), Busy: len(h.slots), Waiting: int(h.waiting.Load())}
}

// nopObserver is the Observer when Config.Observer is nil.
type nopObserver struct{}

func (nopObserver) Admitted(context.Context, time.Time, time.Duration)     {}
func (nopObserver) Shed(context.Context, string, time.Time, time.Duration) {}
func (nopObserver) Hashed(context.Context, time.Time, time.Duration)       {}

// JoinObservers returns an Observer that reports to each non-nil one of
// obs in order (metrics and tracing both watch the hasher), or nil when
// there is none.
func JoinObservers(obs ...Observer) Observer {
	var joined observers
	for _, o := range obs {
		if o != nil {
			joined = append(joined, o)
		}
	}
	switch len(joined) {
	case 0:
		return nil
	case 1:
		return joined[0]
	}
	return joined
}

type observers []Observer

func (os observers) Admitted(ctx context.Context, start time.Time, waited time.Duration) {
	for _, o := range os {
		o.Admitted(ctx, start, waited)
	}
}

func (os observers) Shed(ctx context.Context, cause string, start time.Time, waited time.Duration) {
	for _, o := range os {
		o.Shed(ctx, cause, start, waited)
	}
}

func (os observers) Hashed(ctx context.Context, start time.Time, d time.Duration) {
	for _, o := range os {
		o.Hashed(ctx, start, d)
	}
}
