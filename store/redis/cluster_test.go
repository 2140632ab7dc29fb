package redis

import (
	"fmt"
	"sync/atomic"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/tokenserver/tokenserver/store"
	"github.com/tokenserver/tokenserver/store/storetest"
)

// The conformance suites again, through a ClusterClient on a one-node Redis
// Cluster: keys of one call hash to different slots, so this exercises the
// per-node pipelines, MULTI per slot, WATCH and SCAN on every primary.
func TestCluster(t *testing.T) {
	storetest.StartRedis(t) // skips (or fails on CI) without redis-server
	srv, err := storetest.StartRedisClusterServer()
	if err != nil {
		t.Fatalf("StartRedisClusterServer: %v", err)
	}
	t.Cleanup(func() { _ = srv.Stop() })
	var prefixes atomic.Int64
	open := func(t *testing.T) *Store {
		s, err := Open(t.Context(), Config{
			URL:    "redis+cluster://" + srv.Addr,
			Prefix: fmt.Sprintf("c%d:", prefixes.Add(1)),
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		if _, ok := s.client.(*goredis.ClusterClient); !ok {
			t.Fatalf("client is %T, want a cluster client", s.client)
		}
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
