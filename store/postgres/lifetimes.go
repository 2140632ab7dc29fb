package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/tokenserver/tokenserver/store"
)

var _ store.TokenLifetimes = (*Store)(nil)

// RecordAccessTTL upserts the row of ttl with last_seen = at (the later
// one wins).
func (s *Store) RecordAccessTTL(ctx context.Context, ttl time.Duration, at time.Time) error {
	if ttl <= 0 {
		return fmt.Errorf("postgres: record access ttl: %v is not positive", ttl)
	}
	_, err := s.pool.Exec(ctx, `
		INSERT INTO access_token_ttls AS a (ttl_ms, last_seen) VALUES ($1, $2)
		ON CONFLICT (ttl_ms) DO UPDATE SET last_seen = GREATEST(a.last_seen, EXCLUDED.last_seen)`,
		ttl.Milliseconds(), utc(at))
	return wrap("record access ttl", err)
}

// LongestAccessTTL implements store.TokenLifetimes in one query: the longest
// server lifetime still able to have live tokens at `at`, or the longest
// client lifetime.
func (s *Store) LongestAccessTTL(ctx context.Context, at time.Time) (time.Duration, error) {
	var ms int64
	err := s.pool.QueryRow(ctx, `
		SELECT GREATEST(
			(SELECT COALESCE(max(ttl_ms), 0) FROM access_token_ttls
			  WHERE last_seen + ttl_ms * interval '1 millisecond' > $1),
			(SELECT COALESCE(max(access_token_ttl_ms), 0) FROM clients))`, utc(at)).Scan(&ms)
	if err != nil {
		return 0, wrap("longest access ttl", err)
	}
	return time.Duration(ms) * time.Millisecond, nil
}
