package memory

import (
	"context"
	"fmt"
	"time"
)

// RecordAccessTTL implements store.TokenLifetimes.
func (s *Store) RecordAccessTTL(ctx context.Context, ttl time.Duration, at time.Time) error {
	if err := live(ctx, "record access ttl"); err != nil {
		return err
	}
	if ttl <= 0 {
		return fmt.Errorf("memory: record access ttl: %v is not positive", ttl)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if prev, ok := s.accessTTLs[ttl]; !ok || at.After(prev) {
		s.accessTTLs[ttl] = at
	}
	return nil
}

// LongestAccessTTL implements store.TokenLifetimes.
func (s *Store) LongestAccessTTL(ctx context.Context, at time.Time) (time.Duration, error) {
	if err := live(ctx, "longest access ttl"); err != nil {
		return 0, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	var longest time.Duration
	for ttl, seen := range s.accessTTLs {
		if seen.Add(ttl).After(at) {
			longest = max(longest, ttl)
		}
	}
	for _, c := range s.clients {
		longest = max(longest, c.AccessTokenTTL)
	}
	return longest, nil
}
