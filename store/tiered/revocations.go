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
type Revocations struct {
	durable store.RevocationStore
	cache   store.RevocationStore
	logger  *slog.Logger
	// missed counts cache writes that failed since the last complete
	// Reseed. While it is non-zero the cache may lack a revocation that
	// the durable record has, so IsRevoked asks the durable store.
	missed atomic.Int64
}

var _ store.RevocationStore = (*Revocations)(nil)

// NewRevocations returns the tiered denylist. A nil logger discards.
func NewRevocations(durable, cache store.RevocationStore, logger *slog.Logger) *Revocations {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Revocations{durable: durable, cache: cache, logger: logger}
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
// the durable store's error (wrapping both). After a failed cache write it
// asks only the durable store until Reseed succeeds.
func (t *Revocations) IsRevoked(ctx context.Context, q store.RevocationQuery, now time.Time) (bool, error) {
	if t.missed.Load() > 0 {
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
// first error. Cache writes that failed before it started no longer matter
// once it succeeds; those failing during it still do.
func (t *Revocations) Reseed(ctx context.Context, now time.Time) error {
	missed := t.missed.Load()
	rs, err := t.durable.Active(ctx, now)
	if err != nil {
		return fmt.Errorf("tiered: reseed: %w", err)
	}
	for _, r := range rs {
		if err := t.cache.Revoke(ctx, r); err != nil {
			return fmt.Errorf("tiered: reseed: %w", err)
		}
	}
	t.missed.Add(-missed)
	t.logger.InfoContext(ctx, "revocation cache reseeded", slog.Int("entries", len(rs)))
	return nil
}
