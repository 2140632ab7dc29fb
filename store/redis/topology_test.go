package redis

import (
	"fmt"
	"sync/atomic"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/tokenserver/tokenserver/store"
	"github.com/tokenserver/tokenserver/store/storetest"
)

// runSuites runs every conformance suite this package implements against
// stores opened on url, each with a fresh prefix.
func runSuites(t *testing.T, url string, check func(*testing.T, *Store)) {
	var prefixes atomic.Int64
	open := func(t *testing.T) *Store {
		s, err := Open(t.Context(), Config{URL: url, Prefix: fmt.Sprintf("p%d:", prefixes.Add(1))})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		check(t, s)
		markReady(t, s)
		return s
	}
	t.Run("RevocationStore", func(t *testing.T) {
		storetest.TestRevocationStore(t, func(t *testing.T) store.RevocationStore { return open(t) })
	})
	t.Run("RevocationFeed", func(t *testing.T) {
		storetest.TestRevocationFeed(t, func(t *testing.T) store.RevocationFeed { return open(t) })
	})
	t.Run("LoginThrottle", func(t *testing.T) {
		storetest.TestLoginThrottle(t, func(t *testing.T) store.LoginThrottle { return open(t) })
	})
}

// The suites through a ClusterClient on a one-node Redis Cluster: the keys
// of one call hash to different slots, so this exercises per-slot routing,
// WATCH, and SCAN on every primary.
func TestCluster(t *testing.T) {
	storetest.StartRedis(t) // skips (or fails on CI) without redis-server
	srv, err := storetest.StartRedisClusterServer()
	if err != nil {
		t.Fatalf("StartRedisClusterServer: %v", err)
	}
	t.Cleanup(func() { _ = srv.Stop() })
	runSuites(t, "redis+cluster://"+srv.Addr, func(t *testing.T, s *Store) {
		if _, ok := s.client.(*goredis.ClusterClient); !ok {
			t.Fatalf("client is %T, want *redis.ClusterClient", s.client)
		}
	})
}

// The suites through a Sentinel-resolved primary, with a second, dead
// sentinel first in the list to show the client moves on to the next.
func TestSentinel(t *testing.T) {
	storetest.StartRedis(t) // skips (or fails on CI) without redis-server
	primary, err := storetest.StartRedisServer()
	if err != nil {
		t.Fatalf("StartRedisServer: %v", err)
	}
	t.Cleanup(func() { _ = primary.Stop() })
	sentinel, err := storetest.StartRedisSentinel(primary.Addr, "tokens")
	if err != nil {
		t.Fatalf("StartRedisSentinel: %v", err)
	}
	t.Cleanup(func() { _ = sentinel.Stop() })
	url := fmt.Sprintf("redis+sentinel://%s,%s/tokens", closedPort(t), sentinel.Addr)
	runSuites(t, url, func(t *testing.T, s *Store) {
		if err := s.Ping(t.Context()); err != nil {
			t.Fatalf("Ping through the sentinel: %v", err)
		}
	})
}
