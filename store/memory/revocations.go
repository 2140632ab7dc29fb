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
				delete(s.revocationSeq, k)
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
		delete(s.revocationSeq, key)
		return nil
	}
	s.revocations[key] = r
	s.lastSeq++
	s.revocationSeq[key] = s.lastSeq
	return nil
}

// RevocationHead implements store.RevocationLog.
func (s *Store) RevocationHead(ctx context.Context) (int64, error) {
	if err := live(ctx, "revocation head"); err != nil {
		return 0, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.lastSeq, nil
}

// RevocationsAfter implements store.RevocationLog. Every change happens
// under the lock, so positions are in commit order by construction.
func (s *Store) RevocationsAfter(ctx context.Context, after int64, limit int) ([]store.Revocation, int64, error) {
	if err := live(ctx, "revocations after"); err != nil {
		return nil, after, err
	}
	type change struct {
		r   store.Revocation
		seq int64
	}
	s.mu.RLock()
	var changes []change
	for k, seq := range s.revocationSeq {
		if seq > after {
			changes = append(changes, change{s.revocations[k], seq})
		}
	}
	s.mu.RUnlock()
	sort.Slice(changes, func(i, j int) bool { return changes[i].seq < changes[j].seq })
	if len(changes) > limit {
		changes = changes[:max(limit, 0)]
	}
	out := make([]store.Revocation, len(changes))
	next := after
	for i, c := range changes {
		out[i], next = c.r, c.seq
	}
	return out, next, nil
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
