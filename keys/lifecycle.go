package keys

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/tokenserver/tokenserver/store"
)

// ErrTooEarly is returned (wrapped) by Rotate when the next key has not been
// published long enough to sign: resource servers may still hold a cached
// JWKS without it.
var ErrTooEarly = errors.New("keys: too early to rotate")

// ErrStaticKeys is returned by Rotate and RotateNow of a Manager whose keys
// come from PEM files.
var ErrStaticKeys = errors.New("keys: signing keys come from PEM files: rotate by changing the files and restarting")

// errNoChange aborts an UpdateKeys whose callback found nothing to do, so no
// write (and no change notification) happens.
var errNoChange = errors.New("keys: no change")

// policy holds the lifecycle durations.
type policy struct {
	maxAge, margin, maxTokenTTL, rotationPeriod time.Duration
}

// activatesAt: a next key may sign once every JWKS cached before it was
// published has expired (max-age), plus a margin for clock skew.
func (p policy) activatesAt(created time.Time) time.Time { return created.Add(p.maxAge + p.margin) }

// removeAt: a retired key stays published until every token it signed has
// expired (MaxTokenTTL), counted from the last moment any instance can still
// sign with it; MaxAge covers instances that have not reloaded yet and the
// margin covers clock skew.
func (p policy) removeAt(retired time.Time) time.Time {
	return retired.Add(p.maxTokenTTL + p.maxAge + p.margin)
}

// freshFunc returns the sealed record of a new next key for alg created at now.
type freshFunc func(alg string) (store.SigningKey, error)

// find returns the index of the first key of alg in state, or -1. Sets are
// ordered by CreatedAt, so "first" is the oldest.
func find(set []store.SigningKey, alg string, state store.KeyState) int {
	return slices.IndexFunc(set, func(k store.SigningKey) bool { return k.Algorithm == alg && k.State == state })
}

// algorithmsWithCurrent lists, sorted, every algorithm that has a current key.
func algorithmsWithCurrent(set []store.SigningKey) []string {
	var algs []string
	for _, k := range set {
		if k.State == store.KeyCurrent && !slices.Contains(algs, k.Algorithm) {
			algs = append(algs, k.Algorithm)
		}
	}
	slices.Sort(algs)
	return algs
}

// missing reports which configured algorithms lack a current or a next key.
func missing(set []store.SigningKey, algs []string) []string {
	var out []string
	for _, alg := range algs {
		if find(set, alg, store.KeyCurrent) < 0 || find(set, alg, store.KeyNext) < 0 {
			out = append(out, alg)
		}
	}
	return out
}

// ensureKeys gives every algorithm in algs a current and a next key. A
// current key created here signs at once: with no current key there is
// nothing to wait for.
func ensureKeys(set []store.SigningKey, algs []string, now time.Time, fresh freshFunc) ([]store.SigningKey, bool, error) {
	changed := false
	for _, alg := range algs {
		if find(set, alg, store.KeyCurrent) < 0 {
			k, err := fresh(alg)
			if err != nil {
				return nil, false, err
			}
			k.State, k.ActivatesAt = store.KeyCurrent, now
			set, changed = append(set, k), true
		}
		if find(set, alg, store.KeyNext) < 0 {
			k, err := fresh(alg)
			if err != nil {
				return nil, false, err
			}
			set, changed = append(set, k), true
		}
	}
	return set, changed, nil
}

// rotateAlg promotes alg's next key to current, retires the current key and
// adds a fresh next key. A scheduled rotation (emergency false) requires
// next.ActivatesAt <= now and keeps the retired key published until
// policy.removeAt; an emergency rotation unpublishes it at once (RemoveAt =
// now), so its tokens stop verifying immediately.
func rotateAlg(set []store.SigningKey, alg string, now time.Time, p policy, emergency bool, fresh freshFunc) ([]store.SigningKey, error) {
	ci, ni := find(set, alg, store.KeyCurrent), find(set, alg, store.KeyNext)
	if ci < 0 || (ni < 0 && !emergency) {
		return nil, fmt.Errorf("keys: rotate %s: the set has no current or no next key", alg)
	}
	if ni < 0 {
		// Emergency without a next key (an algorithm no instance keeps
		// alive any more): replace the current key all the same.
		k, err := fresh(alg)
		if err != nil {
			return nil, err
		}
		set, ni = append(set, k), len(set)
	}
	if !emergency && set[ni].ActivatesAt.After(now) {
		return nil, fmt.Errorf("%w: next %s key %s can become current at %s (in %s)", ErrTooEarly, alg,
			set[ni].ID, set[ni].ActivatesAt.UTC().Format(time.RFC3339), set[ni].ActivatesAt.Sub(now).Round(time.Second))
	}
	k, err := fresh(alg)
	if err != nil {
		return nil, err
	}
	cur := &set[ci]
	cur.State, cur.RetiredAt, cur.RemoveAt = store.KeyRetired, now, p.removeAt(now)
	if emergency {
		cur.RemoveAt = now
	}
	// For a current key ActivatesAt records when it started signing, which
	// is what the rotation schedule counts from.
	next := &set[ni]
	next.State, next.ActivatesAt = store.KeyCurrent, now
	return append(set, k), nil
}

// rotationDue reports whether alg's current key has signed for a full
// rotation period and its next key may take over.
func rotationDue(set []store.SigningKey, alg string, now time.Time, p policy) bool {
	if p.rotationPeriod <= 0 {
		return false
	}
	ci, ni := find(set, alg, store.KeyCurrent), find(set, alg, store.KeyNext)
	return ci >= 0 && ni >= 0 &&
		!now.Before(set[ci].ActivatesAt.Add(p.rotationPeriod)) &&
		!set[ni].ActivatesAt.After(now)
}

// removable reports whether a retired key is past its RemoveAt.
func removable(k store.SigningKey, now time.Time) bool {
	return k.State == store.KeyRetired && !k.RemoveAt.IsZero() && !now.Before(k.RemoveAt)
}

// prune drops retired keys past their RemoveAt.
func prune(set []store.SigningKey, now time.Time) ([]store.SigningKey, bool) {
	out := slices.DeleteFunc(set, func(k store.SigningKey) bool { return removable(k, now) })
	return out, len(out) != len(set)
}
