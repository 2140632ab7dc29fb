package redis

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	goredis "github.com/redis/go-redis/v9"

	"github.com/tokenserver/tokenserver/store"
)

// The revocation cache's marker, <prefix>revgen, says whether the cache
// holds every durable entry (see store.RevocationSeeder). It has no TTL, so
// only a data loss (FLUSHALL, a restart without persistence, a failover to
// an empty replica, an eviction) removes it, and IsRevoked reads it in the
// same round trip as the entries. Its value is
//
//	seeding:<generation>   a copy from the durable record is under way
//	ready:<generation>     the copy of that generation completed
//
// The key sits outside the <prefix>rev:* pattern that Active scans.
const (
	seedingState = "seeding:"
	readyState   = "ready:"
)

var _ store.RevocationSeeder = (*Store)(nil)

func (s *Store) markerKey() string { return s.prefix + "revgen" }

// beginSeedScript keeps an existing marker and creates a seeding one when
// there is none (or it is not one of ours), returning the marker either way.
// One script, so two processes starting at once agree on one generation.
// ARGV: seedingState, readyState, new generation.
var beginSeedScript = goredis.NewScript(`
local v = redis.call('GET', KEYS[1])
local function has(p) return v and string.len(v) > string.len(p) and string.sub(v, 1, string.len(p)) == p end
if not (has(ARGV[1]) or has(ARGV[2])) then
	v = ARGV[1] .. ARGV[3]
	redis.call('SET', KEYS[1], v)
end
return v
`)

// completeSeedScript flips the marker from seeding to ready if it still
// holds the caller's generation. 1: ready; 0: the marker is gone or holds
// another generation. ARGV: seedingState, readyState, generation.
var completeSeedScript = goredis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v == ARGV[2] .. ARGV[3] then
	return 1
end
if v == ARGV[1] .. ARGV[3] then
	redis.call('SET', KEYS[1], ARGV[2] .. ARGV[3])
	return 1
end
return 0
`)

// BeginSeed implements store.RevocationSeeder. The token is the generation
// (random, so a marker recreated after a flush never matches an old one).
// Errors: store.ErrUnavailable.
func (s *Store) BeginSeed(ctx context.Context) (string, error) {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	v, err := beginSeedScript.Run(ctx, s.client, []string{s.markerKey()}, seedingState, readyState, hex.EncodeToString(b[:])).Text()
	if err != nil {
		return "", wrap("begin seed", err)
	}
	_, gen, ok := parseMarker(v)
	if !ok {
		return "", fmt.Errorf("redis: begin seed: corrupt marker %q = %q", s.markerKey(), v)
	}
	return gen, nil
}

// CompleteSeed implements store.RevocationSeeder. Errors:
// store.ErrCacheIncomplete (the cache lost data since BeginSeed);
// store.ErrUnavailable.
func (s *Store) CompleteSeed(ctx context.Context, token string) error {
	if token == "" {
		return errors.New("redis: complete seed: empty token")
	}
	ok, err := completeSeedScript.Run(ctx, s.client, []string{s.markerKey()}, seedingState, readyState, token).Int()
	if err != nil {
		return wrap("complete seed", err)
	}
	if ok != 1 {
		return fmt.Errorf("redis: complete seed: %w: marker %s no longer holds generation %s (the cache lost data during the copy)",
			store.ErrCacheIncomplete, s.markerKey(), token)
	}
	return nil
}

// CheckSeeded implements store.RevocationSeeder: one GET of the marker.
// Errors: store.ErrCacheIncomplete; store.ErrUnavailable.
func (s *Store) CheckSeeded(ctx context.Context) error {
	_, err := s.checkMarker(s.client.Get(ctx, s.markerKey()))
	return wrap("check seeded", err)
}

// parseMarker splits a marker value into its state and generation.
func parseMarker(v string) (ready bool, gen string, ok bool) {
	if gen, ok := strings.CutPrefix(v, readyState); ok && gen != "" {
		return true, gen, true
	}
	if gen, ok := strings.CutPrefix(v, seedingState); ok && gen != "" {
		return false, gen, true
	}
	return false, "", false
}

// checkMarker turns the result of a GET of the marker into nil when the
// cache is complete, else an error wrapping store.ErrCacheIncomplete (or
// the read's error). It returns the marker value for comparisons.
func (s *Store) checkMarker(cmd *goredis.StringCmd) (string, error) {
	v, err := cmd.Result()
	switch {
	case errors.Is(err, goredis.Nil):
		return "", fmt.Errorf("%w: marker %s absent (the cache lost its data and was not reseeded yet)", store.ErrCacheIncomplete, s.markerKey())
	case err != nil:
		return "", err
	}
	ready, _, ok := parseMarker(v)
	switch {
	case !ok:
		return "", fmt.Errorf("%w: marker %s corrupt: %q", store.ErrCacheIncomplete, s.markerKey(), v)
	case !ready:
		return "", fmt.Errorf("%w: marker %s says a reseed is under way", store.ErrCacheIncomplete, s.markerKey())
	}
	return v, nil
}
