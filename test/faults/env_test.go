package faults_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/tokenserver/tokenserver/internal/e2etest"
	"github.com/tokenserver/tokenserver/store/storetest"
)

// Credentials of the scenario's principals.
const (
	loadUser     = "loader"
	loadPassword = "loader-password-0123"
	victimUser   = "victim"
	victimPass   = "victim-password-0123"
	appClient    = "app" // the load's client; also introspects
	rsClient     = "api" // the SSE verifier's client (a resource server)
)

// scenario is one token server with its own Redis (and, when the scenario
// faults it, its own PostgreSQL), the two verifiers, and the ledger.
type scenario struct {
	t      *testing.T
	env    []string
	url    string
	server *tokenServer
	redis  *storetest.RedisServer
	prefix string
	rdb    *goredis.Client // for FLUSHALL and observing the denylist
	api    *api
	led    *ledger
	sse    *pushVerifier
	rds    *pushVerifier

	mu         sync.Mutex
	faultBegin time.Time // when the last fault began (zero: none yet)
	faultEnd   time.Time // when the last fault ended
}

// newScenario starts Redis and the token server on dsn (a fresh database),
// registers the clients and users with the CLI and connects the verifiers.
func newScenario(t *testing.T, dsn string) *scenario {
	t.Helper()
	rs, err := storetest.StartRedisServer()
	if err != nil {
		t.Fatalf("redis: %v", err)
	}
	t.Cleanup(func() { _ = rs.Stop() })
	kek := make([]byte, 32)
	rand.Read(kek)
	addr := freeAddr(t)
	s := &scenario{t: t, url: "http://" + addr, redis: rs, prefix: "faults:", led: newLedger(), faultEnd: time.Now()}
	s.env = []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + t.TempDir(),
		"DATABASE_URL=" + dsn,
		"REDIS_URL=redis://" + rs.Addr,
		"TOKENSERVER_REDIS_PREFIX=" + s.prefix,
		"TOKENSERVER_KEK=" + base64.StdEncoding.EncodeToString(kek),
		"TOKENSERVER_ADDR=" + addr,
		"TOKENSERVER_ISSUER=" + s.url,
	}
	s.rdb = goredis.NewClient(&goredis.Options{Addr: rs.Addr, MaxRetries: -1, DialTimeout: time.Second, ReadTimeout: time.Second})
	t.Cleanup(func() { s.rdb.Close() })

	mustCLI(t, s.env, "", "migrate")
	appSecret, rsSecret := randomSecret(), randomSecret()
	mustCLI(t, s.env, appSecret+"\n", "client", "add", "--scopes", "read", appClient)
	mustCLI(t, s.env, rsSecret+"\n", "client", "add", "--scopes", "read", rsClient)
	mustCLI(t, s.env, loadPassword+"\n", "user", "add", loadUser)
	mustCLI(t, s.env, victimPass+"\n", "user", "add", victimUser)

	s.server = startTokenServer(t, s.env, s.url)
	s.api = newAPI(s.url, appClient, appSecret, s.led)
	s.sse = newSSEVerifier(t, s.url, rsClient, rsSecret)
	s.rds = newRedisVerifier(t, s.url, "redis://"+rs.Addr, s.prefix)
	return s
}

func randomSecret() string {
	b := make([]byte, 24)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// beginFault records that a fault starts now (for reports).
func (s *scenario) beginFault() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faultBegin = time.Now()
}

// endFault records that the fault is over: verifier feeds count as healthy
// only from now on.
func (s *scenario) endFault() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faultEnd = time.Now()
}

// phase says where at lies relative to the last fault, for reports.
func (s *scenario) phase(at time.Time) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.faultBegin.IsZero() || at.Before(s.faultBegin):
		return "before the fault"
	case s.faultEnd.Before(s.faultBegin) || at.Before(s.faultEnd):
		return fmt.Sprintf("%v into the fault", at.Sub(s.faultBegin).Round(time.Millisecond))
	default:
		return fmt.Sprintf("%v after the fault ended", at.Sub(s.faultEnd).Round(time.Millisecond))
	}
}

func (s *scenario) lastFaultEnd() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faultEnd
}

// login is a password grant that must succeed (outside any fault).
func (s *scenario) login(user, password string) tokenResult {
	s.t.Helper()
	var tr tokenResult
	deadline := time.Now().Add(30 * time.Second)
	for {
		if tr = s.api.password(user, password); tr.status == 200 {
			return tr
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("login %s: status %d %s %v", user, tr.status, tr.body, tr.err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// revokeToken revokes token at /revoke, retrying a 503 (Retry-After) until
// a 200 or the bound, and records it in the ledger as revoked when it
// succeeded. It reports whether the revocation completed.
func (s *scenario) revokeToken(tr tokenResult, hint, how string, bound time.Duration) bool {
	// Revoking the access token leaves the session (and its refresh token)
	// alone; revoking the refresh token ends the session's access tokens too.
	token, refresh := tr.AccessToken, ""
	if hint == "refresh_token" {
		token, refresh = tr.RefreshToken, tr.RefreshToken
	}
	deadline := time.Now().Add(bound)
	for {
		r := s.api.revoke(token, hint)
		if r.status == 200 {
			s.led.addRevoked(revokedToken{access: tr.AccessToken, refresh: refresh, how: how, revokedAt: time.Now()})
			return true
		}
		if time.Now().After(deadline) {
			s.t.Logf("%s: /revoke never answered 200 within %v (last: %d %s %v)", how, bound, r.status, r.body, r.err)
			return false
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// denylistKeys lists the revocation entries in Redis.
func (s *scenario) denylistKeys() ([]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return s.rdb.Keys(ctx, s.prefix+"rev:*").Result()
}

// allInRedis reports whether every key exists in Redis.
func (s *scenario) allInRedis(keys []string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	n, err := s.rdb.Exists(ctx, keys...).Result()
	return err == nil && int(n) == len(keys)
}

// flushAll runs FLUSHALL on the scenario's Redis.
func (s *scenario) flushAll() {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.rdb.FlushAll(ctx).Err(); err != nil {
		s.t.Fatalf("FLUSHALL: %v", err)
	}
}

// waitUntil polls cond every 50 ms until it holds or bound passes (a hang
// detector, not a timing assertion); it reports whether cond held.
func waitUntil(bound time.Duration, cond func() bool) bool {
	return e2etest.WaitUntil(bound, 50*time.Millisecond, cond)
}
