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

// Check returns the longer wait of the primary and the fallback, so failures
// counted locally during an outage still count after the primary is back.
// When the primary errs the fallback alone answers; when both err, the error
// (never "go ahead").
func (t *Throttle) Check(ctx context.Context, keys []store.ThrottleKey) (time.Duration, error) {
	wait, err := t.primary.Check(ctx, keys)
	local, localErr := t.fallback.Check(ctx, keys)
	if err != nil {
		t.degrade(ctx, err)
		if localErr != nil {
			return 0, fmt.Errorf("tiered: throttle check: %w (primary: %w)", localErr, err)
		}
		return local, nil
	}
	t.recovered(ctx)
	if localErr != nil {
		// The primary answered; a broken fallback only loses outage counts.
		t.logger.WarnContext(ctx, "fallback login throttle failed", slog.Any("error", localErr))
		return wait, nil
	}
	return max(wait, local), nil
}

// Fail counts in the primary, or in the fallback when the primary errs. It
// returns an error only if both fail.
func (t *Throttle) Fail(ctx context.Context, keys []store.ThrottleKey) error {
	err := t.primary.Fail(ctx, keys)
	if err == nil {
		t.recovered(ctx)
		return nil
	}
	t.degrade(ctx, err)
	if localErr := t.fallback.Fail(ctx, keys); localErr != nil {
		return fmt.Errorf("tiered: throttle fail: %w (primary: %w)", localErr, err)
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
