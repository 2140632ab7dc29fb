package redis

import (
	"context"
	"errors"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/tokenserver/tokenserver/store"
)

// The login throttle is a fixed window per key: the first failure creates
// <prefix>throttle:<key> with a TTL of Window and every failure INCRs it, so
// Redis's own clock ends the window for all instances. Once the count
// reaches Limit, Check answers with the key's remaining TTL.
//
// Why not go-redis/redis_rate (GCRA): its only operation both tests and
// records, while LoginThrottle separates Check (must record nothing) from
// Fail; a zero-cost AllowN does not say whether one more failure would be
// refused; and GCRA lets a new failure through every Window/Limit after the
// burst, a much shorter lockout than "Limit failures per Window".

// failScript counts one failure atomically: INCR, and PEXPIRE when the
// increment opened the window (or the key somehow has no TTL, which would
// otherwise lock the key forever). One key per call, so it works in a
// cluster; Fail pipelines one call per key.
const failScript = `local n = redis.call('INCR', KEYS[1])
if n == 1 or redis.call('PTTL', KEYS[1]) < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return n`

func (s *Store) throttleKey(key string) string {
	return s.prefix + "throttle:" + key
}

// validThrottleKeys rejects keys that would throttle nothing or everything.
func validThrottleKeys(keys []store.ThrottleKey) error {
	for _, k := range keys {
		if k.Limit <= 0 || k.Window < time.Millisecond {
			return fmt.Errorf("throttle key %q: Limit must be positive and Window at least 1ms", k.Key)
		}
	}
	return nil
}

// Check reads every key's count and TTL in one pipelined round trip and
// returns the longest remaining window among keys at or over their limit;
// zero means go ahead. It writes nothing. Errors: invalid keys;
// store.ErrUnavailable.
func (s *Store) Check(ctx context.Context, keys []store.ThrottleKey) (time.Duration, error) {
	if err := validThrottleKeys(keys); err != nil {
		return 0, fmt.Errorf("redis: throttle check: %w", err)
	}
	if len(keys) == 0 {
		return 0, nil
	}
	counts := make([]*goredis.StringCmd, len(keys))
	ttls := make([]*goredis.DurationCmd, len(keys))
	_, _ = s.client.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for i, k := range keys {
			name := s.throttleKey(k.Key)
			counts[i] = p.Get(ctx, name)
			ttls[i] = p.PTTL(ctx, name)
		}
		return nil
	})
	var wait time.Duration
	for i, k := range keys {
		n, err := counts[i].Int()
		if errors.Is(err, goredis.Nil) {
			continue
		}
		if err != nil {
			return 0, wrap("throttle check", err)
		}
		if n < k.Limit {
			continue
		}
		ttl, err := ttls[i].Result()
		if err != nil {
			return 0, wrap("throttle check", err)
		}
		switch {
		case ttl == -2: // expired between GET and PTTL
			continue
		case ttl < 0: // no TTL (cannot happen through Fail): assume a full window
			ttl = k.Window
		}
		wait = max(wait, ttl)
	}
	return wait, nil
}

// Fail counts one failure against every key, each atomically (failScript),
// all in one pipelined round trip. Errors: invalid keys;
// store.ErrUnavailable.
func (s *Store) Fail(ctx context.Context, keys []store.ThrottleKey) error {
	if err := validThrottleKeys(keys); err != nil {
		return fmt.Errorf("redis: throttle fail: %w", err)
	}
	if len(keys) == 0 {
		return nil
	}
	_, err := s.client.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for _, k := range keys {
			p.Eval(ctx, failScript, []string{s.throttleKey(k.Key)}, k.Window.Milliseconds())
		}
		return nil
	})
	return wrap("throttle fail", err)
}
