package password

import (
	"context"
	"fmt"
	"time"
)

// ewmaShift sets the weight of a new hash duration in the running mean:
// 1/2^ewmaShift = 1/8, as in TCP's smoothed round-trip time (RFC 6298 §2).
// The mean follows a change of load within a few dozen hashes, yet one slow
// hash (a bcrypt import, a GC pause) moves it little.
const ewmaShift = 3

// busyError is the ErrBusy a Hasher returns, with a hint of when to retry:
// errors.Is(err, ErrBusy) holds, and errors.As(err, &r) with
// r interface{ RetryAfter() time.Duration } reads the hint (the HTTP layer
// turns it into Retry-After).
type busyError struct{ retryAfter time.Duration }

func (e busyError) Error() string { return ErrBusy.Error() }
func (e busyError) Unwrap() error { return ErrBusy }

// RetryAfter is how long the caller should wait before trying again.
func (e busyError) RetryAfter() time.Duration { return e.retryAfter }

// acquire takes a hashing slot. With a slot free it takes it at once.
// Otherwise it first predicts the wait (see expectedWait): when that exceeds
// h.queueTimeout the caller gets ErrBusy immediately, since waiting would
// most likely end in ErrBusy anyway, only later and after holding a request
// open. Admitted callers wait at most h.queueTimeout and never past ctx. It
// returns ErrBusy (a busyError) or the wrapped context error.
func (h *Hasher) acquire(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("password: waiting for a hashing slot: %w", err)
	}
	start := h.now()
	select {
	case h.slots <- struct{}{}:
		h.observer.Admitted(ctx, start, 0)
		return nil
	default:
	}
	ahead := h.waiting.Add(1) - 1
	defer h.waiting.Add(-1)
	if wait := h.expectedWait(ahead); wait > h.queueTimeout {
		h.observer.Shed(ctx, ShedPredictedWait, start, 0)
		return busyError{retryAfter: wait}
	}
	timer := time.NewTimer(h.queueTimeout)
	defer timer.Stop()
	select {
	case h.slots <- struct{}{}:
		h.observer.Admitted(ctx, start, h.now().Sub(start))
		return nil
	case <-ctx.Done():
		h.observer.Shed(ctx, ShedCanceled, start, h.now().Sub(start))
		return fmt.Errorf("password: waiting for a hashing slot: %w", ctx.Err())
	case <-timer.C:
		h.observer.Shed(ctx, ShedQueueTimeout, start, h.now().Sub(start))
		return busyError{retryAfter: h.RetryAfter()}
	}
}

// release returns a slot taken by acquire.
func (h *Hasher) release() { <-h.slots }

// expectedWait is how long a caller with ahead callers queued before it and
// every slot busy can expect to wait for a slot: the queue ahead drains
// cap(slots) callers per mean hash duration, and then the caller still
// waits for one running hash to end (at most one mean duration). It
// deliberately errs long (a running hash is on average half done), so that
// an admitted caller rarely times out after all.
func (h *Hasher) expectedWait(ahead int64) time.Duration {
	slots := int64(cap(h.slots))
	return time.Duration(h.meanHashNanos.Load() * (ahead + slots) / slots)
}

// RetryAfter is a hint of how long a caller turned away now should wait
// before trying again: the expected wait of a new caller behind the current
// queue, at least one mean hash duration.
func (h *Hasher) RetryAfter() time.Duration {
	return h.expectedWait(h.waiting.Load())
}

// timed runs one hash computation (the caller holds a slot) and folds its
// duration into the running mean that expectedWait uses.
func (h *Hasher) timed(ctx context.Context, compute func()) {
	start := h.now()
	compute()
	d := h.now().Sub(start)
	h.observe(d)
	h.observer.Hashed(ctx, start, d)
}

// observe folds one hash duration into the exponentially weighted moving
// average. The average starts at zero, which admits every caller as if there
// were no admission control, and rises towards the real cost over the first
// dozen hashes. It deliberately does not start from a measured hash: the
// first hashes of a process are its slowest (measured 82 ms against 21 ms
// once warm: the 19 MiB of a fresh argon2id buffer are page faults until the
// heap has grown), and starting there refused logins that would have been
// served in time.
func (h *Hasher) observe(d time.Duration) {
	sample := int64(d)
	for {
		old := h.meanHashNanos.Load()
		next := max(old+(sample-old)>>ewmaShift, 1)
		if h.meanHashNanos.CompareAndSwap(old, next) {
			return
		}
	}
}
