package memory

import (
	"context"
	"sort"
	"time"

	"github.com/tokenserver/tokenserver/store"
)

// sweepRevocationsEvery is how many Revoke calls pass between sweeps of
// expired denylist entries; it bounds memory without a background goroutine.
const sweepRevocationsEvery = 256

// revocationKey identifies a denylist entry: later revocations of the same
// key merge into it.
type revocationKey struct {
	kind  store.RevocationKind
	value string
}

// Revoke implements store.RevocationStore. An entry already expired by the
// store's clock is dropped: it could not match a valid token anyway.
func (s *Store) Revoke(ctx context.Context, r store.Revocation) error {
	if err := live(ctx, "revoke"); err != nil {
		return err
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.revokeWrites++
	if s.revokeWrites >= sweepRevocationsEvery {
		s.revokeWrites = 0
		for k, e := range s.revocations {
			if expired(e.ExpiresAt, now) {
				delete(s.revocations, k)
			}
		}
	}
	key := revocationKey{r.Kind, r.Value}
	prev, ok := s.revocations[key]
	if ok && !expired(prev.ExpiresAt, now) {
		// The latest NotBefore and ExpiresAt win; the first CreatedAt stays.
		if prev.NotBefore.After(r.NotBefore) {
			r.NotBefore = prev.NotBefore
		}
		if prev.ExpiresAt.After(r.ExpiresAt) {
			r.ExpiresAt = prev.ExpiresAt
		}
		if !prev.CreatedAt.IsZero() && prev.CreatedAt.Before(r.CreatedAt) {
			r.CreatedAt = prev.CreatedAt
		}
	}
	if expired(r.ExpiresAt, now) {
		delete(s.revocations, key)
		return nil
	}
	s.revocations[key] = r
	return nil
}

// IsRevoked implements store.RevocationStore.
func (s *Store) IsRevoked(ctx context.Context, q store.RevocationQuery, now time.Time) (bool, error) {
	if err := live(ctx, "is revoked"); err != nil {
		return false, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	active := func(kind store.RevocationKind, value string) (store.Revocation, bool) {
		if value == "" {
			return store.Revocation{}, false
		}
		e, ok := s.revocations[revocationKey{kind, value}]
		return e, ok && !expired(e.ExpiresAt, now)
	}
	if _, ok := active(store.RevokeJTI, q.JTI); ok {
		return true, nil
	}
	if _, ok := active(store.RevokeSID, q.SID); ok {
		return true, nil
	}
	if _, ok := active(store.RevokeKID, q.KID); ok {
		return true, nil
	}
	// `iat` has whole-second precision (RFC 7519 §2 NumericDate), so the
	// comparison is in whole seconds: a token issued in the same second as
	// the revocation is revoked too.
	if e, ok := active(store.RevokeSub, q.Sub); ok && q.IssuedAt.Unix() <= e.NotBefore.Unix() {
		return true, nil
	}
	return false, nil
}

// Active implements store.RevocationStore. Entries are ordered by kind, then
// value.
func (s *Store) Active(ctx context.Context, now time.Time) ([]store.Revocation, error) {
	if err := live(ctx, "active revocations"); err != nil {
		return nil, err
	}
	s.mu.RLock()
	out := make([]store.Revocation, 0, len(s.revocations))
	for _, e := range s.revocations {
		if !expired(e.ExpiresAt, now) {
			out = append(out, e)
		}
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].Kind != out[j].Kind {
			return out[i].Kind < out[j].Kind
		}
		return out[i].Value < out[j].Value
	})
	return out, nil
}
