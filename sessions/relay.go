package sessions

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/tokenserver/tokenserver/store"
)

// Relay defaults.
const (
	// DefaultRelayInterval is how often the relay reads the durable log: the
	// longest a revocation written without a working publish (the CLI
	// without Redis, a Redis outage) waits before it reaches the cache and
	// the feed.
	DefaultRelayInterval = 250 * time.Millisecond
	// relayPage bounds one read of the log.
	relayPage = 500
	// vouchMargin is how long past a successful read the relay vouches for
	// the local feed: a few missed reads (a slow database) do not make it
	// look unhealthy, a dead one does within seconds.
	vouchMargin = 2 * time.Second
)

// LocalFeed is the feed of this process's own subscribers (the revocation
// stream's store/fanout.Feed).
type LocalFeed interface {
	// Deliver hands one revocation to every current subscriber.
	Deliver(store.Revocation)
	// Vouch says every committed revocation has been delivered, and keeps
	// the feed healthy until `until`.
	Vouch(until time.Time)
}

// RelayConfig configures a Relay.
type RelayConfig struct {
	// Log is the durable record's change log. Required.
	Log store.RevocationLog
	// Local receives every change at once. Optional.
	Local LocalFeed
	// Cache receives every change (Redis), then Shared publishes it (Redis
	// pub/sub, for Redis-mode verifiers and other instances). Optional.
	Cache  store.RevocationStore
	Shared store.RevocationFeed
	// CacheMissed is called when a change could not be written to Cache, so
	// the denylist stops trusting the cache until it is reseeded
	// (store/tiered.Revocations.Missed). Optional.
	CacheMissed func()
	// Relayed, if set, is called once per change when it has been
	// delivered everywhere this relay delivers it (published on Shared when
	// Cache or Shared is set, otherwise delivered to Local), with the time
	// of that delivery: the revocation publish lag metric. A change is
	// reported when the whole page of the log it was read in got through,
	// so a retried page does not report a change twice. Optional.
	Relayed func(r store.Revocation, at time.Time)
	// Interval between reads of the log; default DefaultRelayInterval.
	Interval time.Duration
	Now      func() time.Time
	Logger   *slog.Logger
}

// Relay follows the durable revocation log and delivers every change —
// whoever wrote it, whether or not its writer could publish — to the local
// subscribers, the cache and the shared feed. Deliveries repeat what the
// writer already published when it could; subscribers and caches merge
// revocations, so a duplicate costs nothing. It is the feed's outbox.
type Relay struct {
	cfg RelayConfig
	// localPos is the log position delivered to Local; sharedPos the one
	// written to Cache and published on Shared (it lags while Redis is down).
	localPos, sharedPos int64
	failing             bool
}

// NewRelay returns a relay positioned at the log's head: changes committed
// from now on are relayed; earlier ones are in the snapshots subscribers
// load and in the cache's reseed. Errors: the log's.
func NewRelay(ctx context.Context, cfg RelayConfig) (*Relay, error) {
	if cfg.Log == nil {
		return nil, errors.New("sessions: relay: Log is required")
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultRelayInterval
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	head, err := cfg.Log.RevocationHead(ctx)
	if err != nil {
		return nil, fmt.Errorf("sessions: relay: %w", err)
	}
	return &Relay{cfg: cfg, localPos: head, sharedPos: head}, nil
}

// Run reads the log every Interval until ctx ends.
func (r *Relay) Run(ctx context.Context) {
	t := time.NewTicker(r.cfg.Interval)
	defer t.Stop()
	for {
		err := r.Step(ctx)
		switch {
		case err != nil && !r.failing:
			r.failing = true
			r.cfg.Logger.WarnContext(ctx, "sessions: revocation relay cannot read the durable log; the feed is unhealthy until it can", "error", err)
		case err == nil && r.failing:
			r.failing = false
			r.cfg.Logger.InfoContext(ctx, "sessions: revocation relay reads the durable log again")
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Step reads the log once and delivers what is new. It returns an error
// when the log cannot be read (then Local is not vouched for); a cache or
// shared-feed failure is retried at the next Step and is not an error.
func (r *Relay) Step(ctx context.Context) error {
	for {
		changes, next, err := r.cfg.Log.RevocationsAfter(ctx, r.localPos, relayPage)
		if err != nil {
			return fmt.Errorf("sessions: relay: %w", err)
		}
		if r.cfg.Local != nil {
			for _, c := range changes {
				r.cfg.Local.Deliver(c)
			}
		}
		if r.cfg.Cache == nil && r.cfg.Shared == nil {
			r.relayed(changes)
		}
		r.localPos = next
		if len(changes) < relayPage {
			break
		}
	}
	if r.cfg.Local != nil {
		r.cfg.Local.Vouch(r.cfg.Now().Add(r.cfg.Interval + vouchMargin))
	}
	if r.cfg.Cache != nil || r.cfg.Shared != nil {
		r.stepShared(ctx)
	}
	return nil
}

// stepShared writes the changes after sharedPos to the cache and publishes
// them, stopping at the first failure so nothing is skipped.
func (r *Relay) stepShared(ctx context.Context) {
	for r.sharedPos < r.localPos {
		changes, next, err := r.cfg.Log.RevocationsAfter(ctx, r.sharedPos, relayPage)
		if err != nil || len(changes) == 0 {
			return
		}
		for i, c := range changes {
			if r.cfg.Cache != nil {
				if err := r.cfg.Cache.Revoke(ctx, c); err != nil {
					if r.cfg.CacheMissed != nil {
						r.cfg.CacheMissed()
					}
					return
				}
			}
			if r.cfg.Shared != nil {
				if err := r.cfg.Shared.Publish(ctx, c); err != nil {
					return
				}
			}
			if i == len(changes)-1 {
				r.sharedPos = next
			}
		}
		r.relayed(changes)
	}
}

// relayed reports changes that got everywhere to Config.Relayed.
func (r *Relay) relayed(changes []store.Revocation) {
	if r.cfg.Relayed == nil || len(changes) == 0 {
		return
	}
	at := r.cfg.Now()
	for _, c := range changes {
		r.cfg.Relayed(c, at)
	}
}
