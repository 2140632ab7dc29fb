package tiered

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/tokenserver/tokenserver/store"
)

// Throttle is a store.LoginThrottle that counts in a shared primary (Redis)
// and falls back to a local one (memory) while the primary errs, so an
// outage weakens the limit to per-instance but never removes it.
type Throttle struct {
	primary  store.LoginThrottle
	fallback store.LoginThrottle
	logger   *slog.Logger
	degraded atomic.Bool
}

var _ store.LoginThrottle = (*Throttle)(nil)

// NewThrottle returns the fallback-protected throttle. A nil logger discards.
func NewThrottle(primary, fallback store.LoginThrottle, logger *slog.Logger) *Throttle {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Throttle{primary: primary, fallback: fallback, logger: logger}
}

// Reserve reserves in the primary, and in the fallback instead while the
// primary errs. The fallback is asked first, so attempts it counted during
// an outage still refuse after the primary is back (without a round trip);
// while the primary answers, the fallback's reservation is only that probe
// and is given back at once. Both steps are atomic in their own store, so
// neither can be overshot by concurrent calls; the probe may briefly refuse
// a concurrent caller, which errs towards refusing. When both err, the
// error (never "go ahead").
func (t *Throttle) Reserve(ctx context.Context, keys []store.ThrottleKey) (time.Duration, error) {
	local, localErr := t.fallback.Reserve(ctx, keys)
	if localErr == nil && local > 0 {
		return local, nil
	}
	wait, err := t.primary.Reserve(ctx, keys)
	if err != nil {
		if ctx.Err() != nil {
			// The caller gave up: that says nothing about the primary, and
			// the attempt will not be made.
			if localErr == nil {
				t.releaseProbe(ctx, keys)
			}
			return 0, fmt.Errorf("tiered: throttle reserve: %w", err)
		}
		t.degrade(ctx, err)
		if localErr != nil {
			return 0, fmt.Errorf("tiered: throttle reserve: %w (primary: %w)", localErr, err)
		}
		return 0, nil // the fallback's reservation counts this attempt
	}
	t.recovered(ctx)
	if localErr != nil {
		// The primary answered; a broken fallback only loses outage counts.
		t.logger.WarnContext(ctx, "fallback login throttle failed", slog.Any("error", localErr))
		return wait, nil
	}
	t.releaseProbe(ctx, keys)
	return wait, nil
}

// releaseProbe gives back the fallback's reservation when the primary holds
// (or refused) the attempt. A failure leaves one extra local count until its
// window ends; the fallback is in-process, so it only fails on a dead context.
func (t *Throttle) releaseProbe(ctx context.Context, keys []store.ThrottleKey) {
	if err := t.fallback.Release(context.WithoutCancel(ctx), keys); err != nil {
		t.logger.WarnContext(ctx, "fallback login throttle failed", slog.Any("error", err))
	}
}

// Release gives back in the primary, or in the fallback when the primary
// errs. It cannot know where Reserve put the reservation: it assumes the
// primary's state has not changed since, so a release racing the start or
// end of an outage gives back one count in the wrong store (at worst one
// extra attempt, or one success counted as a failure, in that window). It
// returns an error only if both fail.
func (t *Throttle) Release(ctx context.Context, keys []store.ThrottleKey) error {
	err := t.primary.Release(ctx, keys)
	if err == nil {
		t.recovered(ctx)
		return nil
	}
	if ctx.Err() != nil {
		return fmt.Errorf("tiered: throttle release: %w", err)
	}
	t.degrade(ctx, err)
	if localErr := t.fallback.Release(ctx, keys); localErr != nil {
		return fmt.Errorf("tiered: throttle release: %w (primary: %w)", localErr, err)
	}
	return nil
}

// degrade logs the switch to the fallback once per outage.
func (t *Throttle) degrade(ctx context.Context, err error) {
	if t.degraded.CompareAndSwap(false, true) {
		t.logger.WarnContext(ctx, "login throttle primary failed; counting per instance until it recovers", slog.Any("error", err))
	}
}

// recovered logs the return to the primary once.
func (t *Throttle) recovered(ctx context.Context) {
	if t.degraded.CompareAndSwap(true, false) {
		t.logger.InfoContext(ctx, "login throttle primary recovered")
	}
}
