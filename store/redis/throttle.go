package redis

import (
	"context"
	"fmt"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/tokenserver/tokenserver/store"
)

// The login throttle is a fixed window per key: the first reservation
// creates <prefix>{throttle}:<key> with a TTL of Window and every reservation
// INCRs it, so Redis's own clock ends the window for all instances. Once the
// count reaches Limit, Reserve refuses with the key's remaining TTL.
//
// A call's keys are checked and counted by one Lua script, which Redis runs
// atomically: concurrent logins cannot all pass a check before any of them
// is counted. A script may only touch keys of one cluster slot, so every
// counter carries the hash tag {throttle} and lives in one slot. That puts
// all counters on one primary of a Redis Cluster; one script call per login
// is far below what one node serves, and reserving key by key across slots
// could not be atomic.
//
// Why not go-redis/redis_rate (GCRA): it cannot reserve on several keys at
// once (all or nothing), and GCRA lets a new attempt through every
// Window/Limit after the burst, a much shorter lockout than "Limit failures
// per Window".

// reserveScript reserves one attempt on every key or on none. ARGV holds
// Limit and Window (ms) per key, in KEYS order. It returns 0 when reserved,
// otherwise the longest remaining window (ms, at least 1) among keys at
// their limit. A key at its limit without a TTL (which would lock it
// forever; not created by these scripts) gets a full window.
var reserveScript = goredis.NewScript(`local wait = 0
for i, key in ipairs(KEYS) do
  local n = tonumber(redis.call('GET', key) or '0')
  if n >= tonumber(ARGV[2*i-1]) then
    local ttl = redis.call('PTTL', key)
    if ttl < 0 then
      ttl = tonumber(ARGV[2*i])
      redis.call('PEXPIRE', key, ttl)
    end
    wait = math.max(wait, ttl, 1)
  end
end
if wait > 0 then
  return wait
end
for i, key in ipairs(KEYS) do
  if redis.call('INCR', key) == 1 or redis.call('PTTL', key) < 0 then
    redis.call('PEXPIRE', key, ARGV[2*i])
  end
end
return 0`)

// releaseScript gives back one reservation on every key: DECR keeps the
// window's TTL; the last one deletes the key, so the next reservation opens
// a new window. A missing key stays missing (never below zero).
var releaseScript = goredis.NewScript(`for _, key in ipairs(KEYS) do
  local n = tonumber(redis.call('GET', key) or '0')
  if n > 1 then
    redis.call('DECR', key)
  elseif n == 1 then
    redis.call('DEL', key)
  end
end
return 0`)

func (s *Store) throttleKey(key string) string {
	return s.prefix + "{throttle}:" + key
}

// throttleArgs validates keys and returns their Redis names and the
// scripts' ARGV (Limit, Window in ms, per key). Keys that would throttle
// nothing or everything are rejected.
func (s *Store) throttleArgs(keys []store.ThrottleKey) ([]string, []any, error) {
	names := make([]string, len(keys))
	args := make([]any, 0, 2*len(keys))
	for i, k := range keys {
		if k.Limit <= 0 || k.Window < time.Millisecond {
			return nil, nil, fmt.Errorf("throttle key %q: Limit must be positive and Window at least 1ms", k.Key)
		}
		names[i] = s.throttleKey(k.Key)
		args = append(args, strconv.Itoa(k.Limit), strconv.FormatInt(k.Window.Milliseconds(), 10))
	}
	return names, args, nil
}

// Reserve implements store.LoginThrottle in one round trip (reserveScript).
// Errors: invalid keys; store.ErrUnavailable.
func (s *Store) Reserve(ctx context.Context, keys []store.ThrottleKey) (time.Duration, error) {
	names, args, err := s.throttleArgs(keys)
	if err != nil {
		return 0, fmt.Errorf("redis: throttle reserve: %w", err)
	}
	if len(keys) == 0 {
		return 0, nil
	}
	ms, err := reserveScript.Run(ctx, s.client, names, args...).Int64()
	if err != nil {
		return 0, wrap("throttle reserve", err)
	}
	return time.Duration(ms) * time.Millisecond, nil
}

// Release implements store.LoginThrottle in one round trip (releaseScript).
// Errors: invalid keys; store.ErrUnavailable.
func (s *Store) Release(ctx context.Context, keys []store.ThrottleKey) error {
	names, _, err := s.throttleArgs(keys)
	if err != nil {
		return fmt.Errorf("redis: throttle release: %w", err)
	}
	if len(keys) == 0 {
		return nil
	}
	return wrap("throttle release", releaseScript.Run(ctx, s.client, names).Err())
}
