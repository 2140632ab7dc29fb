// Package tiered composes stores so that a fast, shared cache (Redis) answers
// the hot path while a durable store (PostgreSQL) stays the record, and so
// that the cache being down never weakens security: a revocation is never
// reported as absent, and login throttling never turns into "no limit",
// because the cache is unreachable.
package tiered

import (
	"context"
	"errors"
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
//
// A cache that is a store.RevocationSeeder (Redis) also says on every read
// whether it is still complete: after a FLUSHALL or a restart empty, its
// next IsRevoked returns store.ErrCacheIncomplete, that request is answered
// by the durable store, and ReseedNeeded fires so the reseed runs at once.
type Revocations struct {
	durable store.RevocationStore
	cache   store.RevocationStore
	// seeder is cache as a RevocationSeeder, or nil.
	seeder store.RevocationSeeder
	logger *slog.Logger
	// seeded is set by the first successful Reseed.
	seeded atomic.Bool
	// missed counts cache writes and reseeds that failed since the last
	// successful Reseed began.
	missed atomic.Int64
	// reseedNeeded holds at most one pending request (coalescing).
	reseedNeeded chan struct{}
	// copying counts Reseed attempts from just before BeginSeed to just
	// before CompleteSeed: an incomplete cache seen then is settled by that
	// attempt (it completes the generation it began, or finds the marker
	// gone and begins again), so reads need not ask for another reseed.
	copying atomic.Int32
	// afterCopy, when set (tests), runs between a seed's copy and its
	// CompleteSeed.
	afterCopy func()
}

var _ store.RevocationStore = (*Revocations)(nil)

// NewRevocations returns the tiered denylist. Call Reseed when starting and
// whenever the cache may have lost data (the feed's Resync); until the first
// success every IsRevoked goes to the durable store. A nil logger discards.
func NewRevocations(durable, cache store.RevocationStore, logger *slog.Logger) *Revocations {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	seeder, _ := cache.(store.RevocationSeeder)
	return &Revocations{durable: durable, cache: cache, seeder: seeder, logger: logger,
		reseedNeeded: make(chan struct{}, 1)}
}

// ReseedNeeded receives a value when a read or CheckCache found the cache
// incomplete (emptied, or left half-seeded by a process that died) or a
// cache write failed, so the caller should Reseed now rather than at its
// next periodic reseed. Requests coalesce: however many there were, one
// value waits, and Reseed consumes it. Meant for one consumer, the
// process's reseed loop. Meanwhile reads go to the durable store, so acting
// on it is about speed, never about correctness.
func (t *Revocations) ReseedNeeded() <-chan struct{} { return t.reseedNeeded }

// CheckCache asks a RevocationSeeder cache whether it is still complete
// (one round trip) and signals ReseedNeeded if not. The reseed loop calls
// it every few seconds: resource servers reading Redis directly depend on
// the marker, yet this process may have no denylist read to notice a flush
// by. It returns the cache's answer (nil without a seeder).
func (t *Revocations) CheckCache(ctx context.Context) error {
	if t.seeder == nil {
		return nil
	}
	err := t.seeder.CheckSeeded(ctx)
	if errors.Is(err, store.ErrCacheIncomplete) && t.copying.Load() == 0 {
		t.requestReseed()
	}
	if err != nil {
		return fmt.Errorf("tiered: check cache: %w", err)
	}
	return nil
}

// requestReseed signals ReseedNeeded without blocking.
func (t *Revocations) requestReseed() {
	select {
	case t.reseedNeeded <- struct{}{}:
	default: // one is pending already
	}
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
// (once back) would not know r; ReseedNeeded fires to hasten that Reseed.
func (t *Revocations) Revoke(ctx context.Context, r store.Revocation) error {
	if err := t.durable.Revoke(ctx, r); err != nil {
		return fmt.Errorf("tiered: revoke: %w", err)
	}
	if err := t.cache.Revoke(ctx, r); err != nil {
		t.requestReseed()
		if t.missed.Add(1) == 1 {
			t.logger.WarnContext(ctx, "revocation cache write failed; answering from the durable record until the cache is reseeded",
				slog.String("kind", string(r.Kind)), slog.Any("error", err))
		}
	}
	return nil
}

// IsRevoked asks the cache and, when the cache errs, the durable store: an
// unreachable or incomplete cache must never mean "not revoked". An
// incomplete cache (store.ErrCacheIncomplete) also signals ReseedNeeded. If
// both fail it returns the durable store's error (wrapping both). While this
// process does not know the cache to be complete (see Revocations) it asks
// only the durable store.
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
	if errors.Is(cacheErr, store.ErrCacheIncomplete) && t.copying.Load() == 0 {
		t.requestReseed()
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
// after a feed Resync, on ReseedNeeded, or after the cache lost its data (a
// flush, a failover to an empty replica). Cache revocations merge (latest
// NotBefore and ExpiresAt win), so reseeding over live entries is harmless.
// It stops at the first error, and then IsRevoked keeps asking the durable
// store until a Reseed succeeds: the caller should retry. Cache writes that
// failed before a successful Reseed began no longer matter; those failing
// during it do.
//
// With a RevocationSeeder cache the copy sits between BeginSeed and
// CompleteSeed, so the cache is marked complete only if it kept everything
// copied; if it lost data meanwhile, Reseed copies again (seedAttempts in
// all, then it returns an error wrapping store.ErrCacheIncomplete). Several
// processes may Reseed one cache at once.
func (t *Revocations) Reseed(ctx context.Context, now time.Time) error {
	// This Reseed settles every request made so far: drained before
	// missed is read, so a write failing after the drain either counts
	// against this Reseed or leaves a request for the next one.
	select {
	case <-t.reseedNeeded:
	default:
	}
	missed := t.missed.Load()
	if err := t.reseed(ctx, now); err != nil {
		t.missed.Add(1)
		return err
	}
	t.missed.Add(-missed)
	t.seeded.Store(true)
	return nil
}

// seedAttempts bounds the copies one Reseed makes when the cache keeps
// losing its data during them; the caller's retry loop takes over after.
const seedAttempts = 3

func (t *Revocations) reseed(ctx context.Context, now time.Time) error {
	if t.seeder == nil {
		n, err := t.copyDurable(ctx, now)
		if err != nil {
			return err
		}
		t.logger.InfoContext(ctx, "revocation cache reseeded", slog.Int("entries", n))
		return nil
	}
	for attempt := 1; ; attempt++ {
		n, err := t.seed(ctx, now)
		if err == nil {
			t.logger.InfoContext(ctx, "revocation cache reseeded", slog.Int("entries", n), slog.Int("attempt", attempt))
			return nil
		}
		if !errors.Is(err, store.ErrCacheIncomplete) || attempt == seedAttempts {
			return err
		}
		t.logger.WarnContext(ctx, "revocation cache lost its data during a reseed; copying again", slog.Any("error", err))
	}
}

// seed is one BeginSeed, copy, CompleteSeed.
func (t *Revocations) seed(ctx context.Context, now time.Time) (int, error) {
	t.copying.Add(1)
	copying := true
	defer func() {
		if copying {
			t.copying.Add(-1)
		}
	}()
	token, err := t.seeder.BeginSeed(ctx)
	if err != nil {
		return 0, fmt.Errorf("tiered: reseed: %w", err)
	}
	n, err := t.copyDurable(ctx, now)
	if err != nil {
		return 0, err
	}
	if t.afterCopy != nil {
		t.afterCopy()
	}
	// From here a read seeing an incomplete cache may be after this
	// CompleteSeed, so it must ask for another reseed.
	t.copying.Add(-1)
	copying = false
	if err := t.seeder.CompleteSeed(ctx, token); err != nil {
		return 0, fmt.Errorf("tiered: reseed: %w", err)
	}
	return n, nil
}

// copyDurable revokes every durable entry active at now in the cache.
func (t *Revocations) copyDurable(ctx context.Context, now time.Time) (int, error) {
	rs, err := t.durable.Active(ctx, now)
	if err != nil {
		return 0, fmt.Errorf("tiered: reseed: %w", err)
	}
	for _, r := range rs {
		if err := t.cache.Revoke(ctx, r); err != nil {
			return 0, fmt.Errorf("tiered: reseed: %w", err)
		}
	}
	return len(rs), nil
}

// Missed records that the cache failed to take a change written elsewhere
// (the relay's copy of the durable log): until the next successful Reseed,
// IsRevoked answers from the durable store.
func (t *Revocations) Missed() {
	t.requestReseed()
	if t.missed.Add(1) == 1 {
		t.logger.Warn("revocation cache missed a change; answering from the durable record until the cache is reseeded")
	}
}
