package storetest

import (
	"fmt"
	"net/url"
	"os"
	"sync"
	"testing"

	"github.com/tokenserver/tokenserver/internal/testservers"
)

// RedisTarget is where a test talks to Redis: a server address and a key
// prefix that no other test (in this binary) uses.
type RedisTarget struct {
	Addr   string
	Prefix string
	// url is TEST_REDIS_URL when set, so credentials and database survive.
	url string
}

// URL returns the target as a redis:// URL for store/redis.Config.
func (r RedisTarget) URL() string {
	if r.url != "" {
		return r.url
	}
	return "redis://" + r.Addr
}

// Redis started by this test binary; shared by every test of the binary.
var (
	redisMu      sync.Mutex
	redisSrv     *RedisServer
	redisErr     error // a failed start is not retried by every test
	redisCounter int
)

// StartRedis returns a redis-server for the test and a fresh key prefix. The
// server is started once per test binary (no persistence, no eviction, bound to
// 127.0.0.1 on a random port) and stopped by Main. With TEST_REDIS_URL set it
// uses that server instead; prefixes then carry the process ID so that test
// binaries running in parallel do not meet.
//
// A missing redis-server skips the test, or fails it when CI=true.
func StartRedis(t testing.TB) RedisTarget {
	t.Helper()
	redisMu.Lock()
	defer redisMu.Unlock()
	redisCounter++
	if raw := os.Getenv("TEST_REDIS_URL"); raw != "" {
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" {
			t.Fatalf("storetest: TEST_REDIS_URL %q is not a redis:// URL", raw)
		}
		return RedisTarget{Addr: u.Host, Prefix: fmt.Sprintf("t%d.%d:", os.Getpid(), redisCounter), url: raw}
	}
	if redisSrv == nil && redisErr == nil {
		redisSrv, redisErr = StartRedisServer()
		if redisErr == nil {
			srv := redisSrv
			registerStop(func() { _ = srv.Stop() })
		}
	}
	if redisErr != nil {
		skipOrFail(t, redisErr, "redis-server")
	}
	return RedisTarget{Addr: redisSrv.Addr, Prefix: fmt.Sprintf("t%d:", redisCounter)}
}

// RestartRedis stops the test binary's redis-server and starts it again on the
// same port (with no data), so clients see their connections drop and must
// reconnect. It cannot restart a TEST_REDIS_URL server and skips instead.
func RestartRedis(t testing.TB) {
	t.Helper()
	if os.Getenv("TEST_REDIS_URL") != "" {
		t.Skip("storetest: RestartRedis needs the redis-server storetest starts; unset TEST_REDIS_URL")
	}
	redisMu.Lock()
	defer redisMu.Unlock()
	if redisSrv == nil {
		t.Fatal("storetest: RestartRedis before StartRedis")
	}
	if err := redisSrv.Restart(); err != nil {
		t.Fatalf("storetest: restart redis: %v", err)
	}
}

// FlushRedis deletes every key on the server (FLUSHALL), as an operator or an
// eviction would. On a TEST_REDIS_URL server this affects everyone using it.
func FlushRedis(t testing.TB) {
	t.Helper()
	redisMu.Lock()
	defer redisMu.Unlock()
	var err error
	if raw := os.Getenv("TEST_REDIS_URL"); raw != "" {
		err = testservers.FlushURL(raw)
	} else if redisSrv == nil {
		t.Fatal("storetest: FlushRedis before StartRedis")
	} else {
		err = redisSrv.Flush()
	}
	if err != nil {
		t.Fatalf("storetest: flush redis: %v", err)
	}
}

// RedisServer is one redis-server process on a loopback port; see
// internal/testservers.
type RedisServer = testservers.RedisServer

// StartRedisServer starts redis-server without persistence on a free
// loopback port. The caller must call Stop.
func StartRedisServer() (*RedisServer, error) { return testservers.StartRedisServer() }

// StartRedisClusterServer starts a one-node Redis Cluster owning every slot.
// The caller must call Stop.
func StartRedisClusterServer() (*RedisServer, error) { return testservers.StartRedisClusterServer() }

// StartRedisSentinel starts a Redis Sentinel monitoring primaryAddr under
// masterName with a quorum of one. The caller must call Stop.
func StartRedisSentinel(primaryAddr, masterName string) (*RedisServer, error) {
	return testservers.StartRedisSentinel(primaryAddr, masterName)
}
