package keys

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/tokenserver/tokenserver/audit"
	"github.com/tokenserver/tokenserver/store"
)

// timeNow is the clock truncated to microseconds, PostgreSQL's precision, so
// a written set reads back identical and is not rebuilt for nothing.
func (m *Manager) timeNow() time.Time { return m.cfg.Now().UTC().Truncate(time.Microsecond) }

// view returns the stored records behind the snapshot (without key material).
func (s *snapshot) view() []store.SigningKey {
	if s == nil {
		return nil
	}
	out := make([]store.SigningKey, len(s.entries))
	for i, e := range s.entries {
		out[i] = e.meta
	}
	return out
}

// newRecord generates and seals a next key created at now.
func (m *Manager) newRecord(alg string, now time.Time) (store.SigningKey, error) {
	k, err := Generate(alg, now)
	if err != nil {
		return store.SigningKey{}, err
	}
	der, err := k.PKCS8()
	if err != nil {
		return store.SigningKey{}, err
	}
	sealed, err := m.sealer.Seal(k.ID, der)
	clear(der)
	if err != nil {
		return store.SigningKey{}, err
	}
	pub, err := k.PublicJSON()
	if err != nil {
		return store.SigningKey{}, err
	}
	return store.SigningKey{
		ID: k.ID, Algorithm: alg, State: store.KeyNext,
		Sealed: sealed, PublicJWK: pub,
		CreatedAt: now, ActivatesAt: m.policy.activatesAt(now),
	}, nil
}

// keyPool hands out new keys inside an UpdateKeys callback. Keys the
// snapshot says will be needed are generated before taking the store's lock
// (RSA generation takes a while); any other is generated on demand.
type keyPool struct {
	m     *Manager
	now   time.Time
	ready map[string][]store.SigningKey
}

func (m *Manager) pregenerate(now time.Time, algs []string) (*keyPool, error) {
	p := &keyPool{m: m, now: now, ready: map[string][]store.SigningKey{}}
	for _, alg := range algs {
		k, err := m.newRecord(alg, now)
		if err != nil {
			return nil, err
		}
		p.ready[alg] = append(p.ready[alg], k)
	}
	return p, nil
}

func (p *keyPool) fresh(alg string) (store.SigningKey, error) {
	if ks := p.ready[alg]; len(ks) > 0 {
		p.ready[alg] = ks[1:]
		return ks[0], nil
	}
	return p.m.newRecord(alg, p.now)
}

// update runs change inside store.UpdateKeys: change decides from the set the
// store hands it (never from the snapshot), so concurrent updates by any
// number of instances compose. Nothing is written when change reports no
// change. The resulting set becomes the snapshot.
func (m *Manager) update(ctx context.Context, op string, change func([]store.SigningKey) ([]store.SigningKey, bool, error)) error {
	var (
		result    []store.SigningKey
		changeErr error
	)
	err := m.store.UpdateKeys(ctx, func(set []store.SigningKey) ([]store.SigningKey, error) {
		out, changed, err := change(slices.Clone(set))
		if err != nil {
			changeErr = err
			return nil, err
		}
		if !changed {
			result = set
			return nil, errNoChange
		}
		result = out
		return out, nil
	})
	switch {
	case changeErr != nil:
		return changeErr // already prefixed; skip the store's wrapping
	case err != nil && !errors.Is(err, errNoChange):
		return fmt.Errorf("keys: %s: %w", op, err)
	}
	return m.apply(result)
}

// ensure creates the missing current/next keys of the configured algorithms.
func (m *Manager) ensure(ctx context.Context) error {
	algs := m.algorithms()
	need := missing(m.snap.Load().view(), algs)
	if len(need) == 0 {
		return nil
	}
	now := m.timeNow()
	pool, err := m.pregenerate(now, need)
	if err != nil {
		return err
	}
	return m.update(ctx, "create keys", func(set []store.SigningKey) ([]store.SigningKey, bool, error) {
		return ensureKeys(set, algs, now, pool.fresh)
	})
}

// Rotate promotes the next key to current if next.ActivatesAt <= now,
// retiring the current key (published until now + MaxTokenTTL + MaxAge +
// Margin) and creating a fresh next key. Other algorithms with a current key
// rotate in the same update when their next key may activate. If the
// signing algorithm's next key may not activate yet it returns an error
// wrapping ErrTooEarly that says when it may, and changes nothing.
func (m *Manager) Rotate(ctx context.Context) error {
	if m.store == nil {
		return ErrStaticKeys
	}
	now := m.timeNow()
	view := m.snap.Load().view()
	var likely []string
	for _, alg := range algorithmsWithCurrent(view) {
		if ni := find(view, alg, store.KeyNext); ni >= 0 && !view[ni].ActivatesAt.After(now) {
			likely = append(likely, alg)
		}
	}
	pool, err := m.pregenerate(now, likely)
	if err != nil {
		return err
	}
	var rotated []string
	err = m.update(ctx, "rotate", func(set []store.SigningKey) ([]store.SigningKey, bool, error) {
		rotated = nil
		set, _, err := ensureKeys(set, m.algorithms(), now, pool.fresh)
		if err != nil {
			return nil, false, err
		}
		for _, alg := range algorithmsWithCurrent(set) {
			if ni := find(set, alg, store.KeyNext); alg != m.cfg.Algorithm && (ni < 0 || set[ni].ActivatesAt.After(now)) {
				continue // only the signing algorithm must rotate
			}
			if set, err = rotateAlg(set, alg, now, m.policy, false, pool.fresh); err != nil {
				return nil, false, err
			}
			rotated = append(rotated, alg)
		}
		return set, true, nil
	})
	if err != nil {
		return err
	}
	m.log.Info("keys: rotated", "algorithms", rotated, "signing_kid", signingKid(m.snap.Load()))
	m.emitRotated(ctx, now, false)
	return nil
}

// RotateNow is the emergency rotation for a leaked key: for every algorithm,
// the current key is retired with RemoveAt = now, so it leaves the JWKS and
// its tokens stop verifying at once; the next key signs at once (resource
// servers that have not fetched it yet refetch on the unknown kid); a fresh
// next key is created. Other instances follow on their next Reload.
func (m *Manager) RotateNow(ctx context.Context) error {
	_, err := m.RotateNowKIDs(ctx)
	return err
}

// RotateNowKIDs is RotateNow, returning the IDs of the keys it unpublished
// (the current key of every algorithm, as the store held them), so the
// caller can tell resource servers to stop trusting them (a kid
// revocation) instead of waiting for their cached JWKS to expire.
func (m *Manager) RotateNowKIDs(ctx context.Context) ([]string, error) {
	if m.store == nil {
		return nil, ErrStaticKeys
	}
	now := m.timeNow()
	algs := algorithmsWithCurrent(m.snap.Load().view())
	pool, err := m.pregenerate(now, algs)
	if err != nil {
		return nil, err
	}
	var retired []string
	err = m.update(ctx, "emergency rotate", func(set []store.SigningKey) ([]store.SigningKey, bool, error) {
		retired = nil // the store may run the callback again
		set, _, err := ensureKeys(set, m.algorithms(), now, pool.fresh)
		if err != nil {
			return nil, false, err
		}
		for _, alg := range algorithmsWithCurrent(set) {
			if ci := find(set, alg, store.KeyCurrent); ci >= 0 {
				retired = append(retired, set[ci].ID)
			}
			if set, err = rotateAlg(set, alg, now, m.policy, true, pool.fresh); err != nil {
				return nil, false, err
			}
		}
		return set, true, nil
	})
	if err != nil {
		return nil, err
	}
	m.log.Warn("keys: emergency rotation: previous keys unpublished", "unpublished", retired, "signing_kid", signingKid(m.snap.Load()))
	m.emitRotated(ctx, now, true)
	return retired, nil
}

// Maintain does the scheduled work once: it rotates every algorithm whose
// current key has signed for RotationPeriod (when its next key may
// activate), prunes retired keys past RemoveAt and recreates missing keys.
// It reads only the snapshot when there is nothing to do. Run calls it on
// every tick.
func (m *Manager) Maintain(ctx context.Context) error {
	if m.store == nil {
		return nil
	}
	now := m.timeNow()
	algs := m.algorithms()
	view := m.snap.Load().view()
	need := missing(view, algs)
	for _, alg := range algorithmsWithCurrent(view) {
		if rotationDue(view, alg, now, m.policy) {
			need = append(need, alg)
		}
	}
	if len(need) == 0 && !slices.ContainsFunc(view, func(k store.SigningKey) bool { return removable(k, now) }) {
		return nil
	}
	pool, err := m.pregenerate(now, need)
	if err != nil {
		return err
	}
	var rotated []string
	pruned := 0
	err = m.update(ctx, "scheduled maintenance", func(set []store.SigningKey) ([]store.SigningKey, bool, error) {
		rotated = nil
		before := len(set)
		set, _ = prune(set, now)
		pruned = before - len(set)
		set, ensured, err := ensureKeys(set, algs, now, pool.fresh)
		if err != nil {
			return nil, false, err
		}
		for _, alg := range algorithmsWithCurrent(set) {
			if !rotationDue(set, alg, now, m.policy) {
				continue
			}
			if set, err = rotateAlg(set, alg, now, m.policy, false, pool.fresh); err != nil {
				return nil, false, err
			}
			rotated = append(rotated, alg)
		}
		return set, pruned > 0 || ensured || len(rotated) > 0, nil
	})
	if err != nil {
		return err
	}
	if len(rotated) > 0 || pruned > 0 {
		m.log.Info("keys: scheduled maintenance", "rotated", rotated, "pruned", pruned, "signing_kid", signingKid(m.snap.Load()))
	}
	if len(rotated) > 0 {
		m.emitRotated(ctx, now, false)
	}
	return nil
}

// emitRotated reports a rotation this instance made: kid is the key that
// signs now. (An emergency rotation's unpublished keys are reported by the
// kid revocations that follow it: token.revoked of kind kid.) Other
// instances that merely load the new set report nothing, so one rotation
// is one event.
func (m *Manager) emitRotated(ctx context.Context, now time.Time, emergency bool) {
	m.audit.Emit(ctx, audit.Event{Type: audit.KeyRotated, Time: now, KID: signingKid(m.snap.Load()), Emergency: emergency})
}
