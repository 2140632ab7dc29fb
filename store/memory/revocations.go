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
		r = store.MergeRevocations(prev, r)
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
	for _, c := range [...]struct {
		kind  store.RevocationKind
		value string
	}{{store.RevokeJTI, q.JTI}, {store.RevokeSID, q.SID}, {store.RevokeSub, q.Sub}, {store.RevokeKID, q.KID}} {
		if c.value == "" {
			continue
		}
		if e, ok := s.revocations[revocationKey{c.kind, c.value}]; ok && e.Matches(q, now) {
			return true, nil
		}
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
