package sessions

import (
	"context"
	"log/slog"
	"time"

	"github.com/tokenserver/tokenserver/store"
)

// Housekeeping intervals.
const (
	// PurgeInterval is how often expired revocations and dead sessions are
	// deleted, and PurgeGrace how long after they stopped mattering (kept
	// for investigations).
	PurgeInterval = time.Hour
	PurgeGrace    = 24 * time.Hour
	// lifetimeInterval is how often a server re-records its access-token
	// lifetime; a record older than that lifetime no longer counts.
	lifetimeInterval = 10 * time.Minute
)

// RunPurge deletes expired records every PurgeInterval until ctx ends. Every
// instance may run it; the deletes are idempotent.
func RunPurge(ctx context.Context, p store.Purger, now func() time.Time, logger *slog.Logger) {
	t := time.NewTicker(PurgeInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n, err := p.Purge(ctx, now().Add(-PurgeGrace))
		if err != nil {
			logger.WarnContext(ctx, "sessions: purge of expired records failed", "error", err, "deleted", n)
			continue
		}
		logger.DebugContext(ctx, "sessions: purged expired records", "deleted", n)
	}
}

// RecordLifetime records once that this server issues access tokens of
// lifetime ttl until the next record is due (so a token issued just before
// it is covered too). serve calls it before it issues anything.
func RecordLifetime(ctx context.Context, l store.TokenLifetimes, ttl time.Duration, now func() time.Time) error {
	return l.RecordAccessTTL(ctx, ttl, now().Add(lifetimeInterval))
}

// RunLifetimeRecorder records the server's access-token lifetime every
// lifetimeInterval until ctx ends, so revocations written elsewhere (the
// CLI) outlive this server's tokens (store.TokenLifetimes).
func RunLifetimeRecorder(ctx context.Context, l store.TokenLifetimes, ttl time.Duration, now func() time.Time, logger *slog.Logger) {
	t := time.NewTicker(lifetimeInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := RecordLifetime(ctx, l, ttl, now); err != nil && ctx.Err() == nil {
			logger.WarnContext(ctx, "sessions: recording the access-token lifetime failed", "error", err)
		}
	}
}
