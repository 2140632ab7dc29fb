package memory

import (
	"context"
	"time"

	"github.com/tokenserver/tokenserver/store"
)

// Memory bounds of the login throttle. It is also the fallback when Redis is
// down, so an attacker spraying distinct usernames or addresses must not be
// able to grow it without limit.
const (
	// throttleSweepMin is the map size below which expired windows are not
	// swept (sweeping a tiny map is pointless churn).
	throttleSweepMin = 1024
	// maxThrottleKeys caps the live windows; beyond it, windows that do not
	// block anyone are evicted first.
	maxThrottleKeys = 1 << 18
)

// throttleEntry is one fixed window of attempts: count reservations (kept
// failures and attempts in flight) since the window opened, forgotten at
// resetAt.
type throttleEntry struct {
	count   int
	limit   int
	resetAt time.Time
}

// enabled reports whether k describes a real limit; a key without a positive
// limit and window throttles nothing.
func enabled(k store.ThrottleKey) bool { return k.Limit > 0 && k.Window > 0 }

// Reserve implements store.LoginThrottle with fixed windows on the store's
// clock: the first reservation opens a window of k.Window, and a key that
// holds k.Limit reservations refuses until its window ends. Checking and
// counting happen under one lock, so concurrent calls cannot overshoot.
func (s *Store) Reserve(ctx context.Context, keys []store.ThrottleKey) (time.Duration, error) {
	if err := live(ctx, "throttle reserve"); err != nil {
		return 0, err
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	var wait time.Duration
	for _, k := range keys {
		if !enabled(k) {
			continue
		}
		e, ok := s.throttle[k.Key]
		if !ok || expired(e.resetAt, now) || e.count < k.Limit {
			continue
		}
		wait = max(wait, e.resetAt.Sub(now))
	}
	if wait > 0 {
		return wait, nil
	}
	for _, k := range keys {
		if !enabled(k) {
			continue
		}
		e, ok := s.throttle[k.Key]
		if !ok || expired(e.resetAt, now) {
			e = throttleEntry{resetAt: now.Add(k.Window)}
		}
		e.count++
		e.limit = k.Limit
		s.throttle[k.Key] = e
	}
	s.boundThrottleLocked(now)
	return 0, nil
}

// Release implements store.LoginThrottle: one reservation fewer on every
// key with a live window; a window left empty is dropped, so the next
// reservation opens a new one.
func (s *Store) Release(ctx context.Context, keys []store.ThrottleKey) error {
	if err := live(ctx, "throttle release"); err != nil {
		return err
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range keys {
		if !enabled(k) {
			continue
		}
		e, ok := s.throttle[k.Key]
		switch {
		case !ok:
		case expired(e.resetAt, now) || e.count <= 1:
			delete(s.throttle, k.Key)
		default:
			e.count--
			s.throttle[k.Key] = e
		}
	}
	return nil
}

// boundThrottleLocked drops expired windows once the map has doubled since
// the last sweep. Beyond maxThrottleKeys it evicts down to 7/8 of the cap
// (so the next full sweep is far away): first windows still under their
// limit, which block no one, then arbitrary ones. s.mu must be held for
// writing.
func (s *Store) boundThrottleLocked(now time.Time) {
	n := len(s.throttle)
	if n < throttleSweepMin || (n < 2*s.throttleSwept && n <= maxThrottleKeys) {
		return
	}
	for key, e := range s.throttle {
		if expired(e.resetAt, now) {
			delete(s.throttle, key)
		}
	}
	if len(s.throttle) > maxThrottleKeys {
		target := maxThrottleKeys / 8 * 7
		for pass := 0; pass < 2 && len(s.throttle) > target; pass++ {
			for key, e := range s.throttle {
				if len(s.throttle) <= target {
					break
				}
				if pass == 1 || e.count < e.limit {
					delete(s.throttle, key)
				}
			}
		}
	}
	s.throttleSwept = len(s.throttle)
}
