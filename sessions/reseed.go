package sessions

import (
	"context"
	"log/slog"
	"time"

	"github.com/tokenserver/tokenserver/store"
)

// Reseed intervals.
const (
	// reseedInterval is the backstop: the cache is reseeded this often even
	// when nothing reported a loss.
	reseedInterval = time.Minute
	// probeInterval is how often the cache's completeness marker is read,
	// for the resource servers that snapshot Redis directly: they get no
	// snapshot until the cache is reseeded, and this process may see no
	// denylist read that would notice the loss.
	probeInterval = 5 * time.Second
)

// SeededCache is a denylist over a durable record and a cache that can be
// reseeded (store/tiered.Revocations).
type SeededCache interface {
	// Reseed copies every durable entry into the cache.
	Reseed(ctx context.Context, now time.Time) error
	// ReseedNeeded signals that the cache was found incomplete or missed a
	// write.
	ReseedNeeded() <-chan struct{}
	// CheckCache reads the cache's completeness marker, signalling
	// ReseedNeeded if it is not complete.
	CheckCache(ctx context.Context) error
}

// ReseedConfig configures RunReseed.
type ReseedConfig struct {
	Cache SeededCache
	// Feed's Resync events (a reconnect to Redis, which may have restarted
	// empty) trigger a reseed.
	Feed   store.RevocationFeed
	Now    func() time.Time
	Logger *slog.Logger
}

// RunReseed keeps the revocation cache complete until ctx ends: it copies
// the durable record into the cache on start, whenever the feed resyncs, as
// soon as the cache reports itself incomplete or a write to it failed, and
// every reseedInterval as a backstop, each time retrying with backoff until
// it succeeds. Until a reseed succeeds the denylist answers from the
// durable record, so correctness never waits on this loop.
func RunReseed(ctx context.Context, cfg ReseedConfig) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	reseed := func() {
		for backoff := 100 * time.Millisecond; ctx.Err() == nil; backoff = min(2*backoff, 10*time.Second) {
			err := cfg.Cache.Reseed(ctx, cfg.Now())
			if err == nil {
				logger.DebugContext(ctx, "sessions: revocation cache reseeded from the durable record")
				return
			}
			logger.WarnContext(ctx, "sessions: reseeding the revocation cache failed; retrying", "error", err, "in", backoff)
			sleep(ctx, backoff)
		}
	}
	prober := time.NewTicker(probeInterval)
	defer prober.Stop()
	ticker := time.NewTicker(reseedInterval)
	defer ticker.Stop()
	for ctx.Err() == nil {
		events, err := cfg.Feed.Subscribe(ctx)
		if err != nil {
			logger.WarnContext(ctx, "sessions: revocation feed: subscribe failed; retrying", "error", err)
			reseed() // a reconnect may follow silently; do not wait for it
			sleep(ctx, 2*time.Second)
			continue
		}
	recv:
		for {
			select {
			case ev, ok := <-events:
				if !ok {
					break recv
				}
				if ev.Resync {
					reseed()
				}
			case <-cfg.Cache.ReseedNeeded():
				logger.InfoContext(ctx, "sessions: revocation cache incomplete or missed a write; reseeding now")
				reseed()
			case <-prober.C:
				// An incomplete cache signals ReseedNeeded; other errors
				// (Redis down) surface through reads and the feed.
				_ = cfg.Cache.CheckCache(ctx)
			case <-ticker.C:
				reseed()
			}
		}
	}
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
