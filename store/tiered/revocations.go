// Package tiered composes stores so that a fast, shared cache (Redis) answers
// the hot path while a durable store (PostgreSQL) stays the record, and so
// that the cache being down never weakens security: a revocation is never
// reported as absent, and login throttling never turns into "no limit",
// because the cache is unreachable.
package tiered

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/tokenserver/tokenserver/store"
)

// Revocations is a store.RevocationStore over a durable record and a cache.
// It is safe for concurrent use if both stores are.
//
// The cache answers IsRevoked only while it is known to be complete: after a
// successful Reseed and with no failed cache write or Reseed since. Otherwise
// (at start, after the cache missed a write or came back empty) the durable
// store answers, so a revocation is never lost to a cache that forgot it.
type Revocations struct {
	durable store.RevocationStore
	cache   store.RevocationStore
	logger  *slog.Logger
	// seeded is set by the first successful Reseed.
	seeded atomic.Bool
	// missed counts cache writes and reseeds that failed since the last
	// successful Reseed began.
	missed atomic.Int64
}

var _ store.RevocationStore = (*Revocations)(nil)

// NewRevocations returns the tiered denylist. Call Reseed when starting and
// whenever the cache may have lost data (the feed's Resync); until the first
// success every IsRevoked goes to the durable store. A nil logger discards.
func NewRevocations(durable, cache store.RevocationStore, logger *slog.Logger) *Revocations {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Revocations{durable: durable, cache: cache, logger: logger}
}

// cacheComplete reports whether the cache holds every durable entry.
func (t *Revocations) cacheComplete() bool {
	return t.seeded.Load() && t.missed.Load() == 0
}

// Revoke records r in the durable store first; if that fails it returns the
// error and leaves the cache alone, so the cache never claims what the record
// does not hold. Then it writes the cache: a cache failure is logged, not
// returned, because the revocation is recorded. Until the next successful
// Reseed, IsRevoked then answers from the durable store, since the cache
// (once back) would not know r.
func (t *Revocations) Revoke(ctx context.Context, r store.Revocation) error {
	if err := t.durable.Revoke(ctx, r); err != nil {
		return fmt.Errorf("tiered: revoke: %w", err)
	}
	if err := t.cache.Revoke(ctx, r); err != nil {
		if t.missed.Add(1) == 1 {
			t.logger.WarnContext(ctx, "revocation cache write failed; answering from the durable record until the cache is reseeded",
				slog.String("kind", string(r.Kind)), slog.Any("error", err))
		}
	}
	return nil
}

// IsRevoked asks the cache and, when the cache errs, the durable store: an
// unreachable cache must never mean "not revoked". If both fail it returns
// the durable store's error (wrapping both). While the cache is not known to
// be complete (see Revocations) it asks only the durable store.
func (t *Revocations) IsRevoked(ctx context.Context, q store.RevocationQuery, now time.Time) (bool, error) {
	if !t.cacheComplete() {
		revoked, err := t.durable.IsRevoked(ctx, q, now)
		if err != nil {
			return false, fmt.Errorf("tiered: is revoked: %w", err)
		}
		return revoked, nil
	}
	revoked, cacheErr := t.cache.IsRevoked(ctx, q, now)
	if cacheErr == nil {
		return revoked, nil
	}
	revoked, err := t.durable.IsRevoked(ctx, q, now)
	if err != nil {
		return false, fmt.Errorf("tiered: is revoked: %w (cache: %w)", err, cacheErr)
	}
	t.logger.DebugContext(ctx, "revocation cache read failed; answered from the durable record", slog.Any("error", cacheErr))
	return revoked, nil
}

// Active returns the durable store's entries: the record, not the cache,
// which may have been flushed.
func (t *Revocations) Active(ctx context.Context, now time.Time) ([]store.Revocation, error) {
	rs, err := t.durable.Active(ctx, now)
	if err != nil {
		return nil, fmt.Errorf("tiered: active: %w", err)
	}
	return rs, nil
}

// Reseed copies every durable entry active at now into the cache: on start,
// after a feed Resync, or after the cache lost its data (a flush, a failover
// to an empty replica). Cache revocations merge (latest NotBefore and
// ExpiresAt win), so reseeding over live entries is harmless. It stops at the
// first error, and then IsRevoked keeps asking the durable store until a
// Reseed succeeds: the caller should retry. Cache writes that failed before a
// successful Reseed began no longer matter; those failing during it do.
func (t *Revocations) Reseed(ctx context.Context, now time.Time) error {
	missed := t.missed.Load()
	if err := t.reseed(ctx, now); err != nil {
		t.missed.Add(1)
		return err
	}
	t.missed.Add(-missed)
	t.seeded.Store(true)
	return nil
}

func (t *Revocations) reseed(ctx context.Context, now time.Time) error {
	rs, err := t.durable.Active(ctx, now)
	if err != nil {
		return fmt.Errorf("tiered: reseed: %w", err)
	}
	for _, r := range rs {
		if err := t.cache.Revoke(ctx, r); err != nil {
			return fmt.Errorf("tiered: reseed: %w", err)
		}
	}
	t.logger.InfoContext(ctx, "revocation cache reseeded", slog.Int("entries", len(rs)))
	return nil
}

// Missed records that the cache failed to take a change written elsewhere
// (the relay's copy of the durable log): until the next successful Reseed,
// IsRevoked answers from the durable store.
func (t *Revocations) Missed() {
	if t.missed.Add(1) == 1 {
		t.logger.Warn("revocation cache missed a change; answering from the durable record until the cache is reseeded")
	}
}
