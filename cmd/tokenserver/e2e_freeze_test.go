package main

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokenserver/tokenserver/store/storetest"
)

// freezeGuard is the HTTP client timeout of the freeze tests: a hang
// detector, not a latency target.
const freezeGuard = 30 * time.Second

// oauthReply is one HTTP answer of the token server.
type oauthReply struct {
	status       int
	errCode      string
	retryAfter   string
	cacheControl string
	body         []byte
	took         time.Duration
}

// postForm posts form to path as the Basic-authenticated client. If no
// answer comes within freezeGuard it marks the test failed and returns a
// zero reply (it may run on a goroutine of its own, so it cannot FailNow).
func postForm(t *testing.T, s *server, path, clientID, secret string, form url.Values) oauthReply {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(clientID, secret)
	start := time.Now()
	resp, err := (&http.Client{Timeout: freezeGuard}).Do(req)
	if err != nil {
		t.Errorf("POST %s: %v (a hang?)", path, err)
		return oauthReply{took: time.Since(start)}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	r := oauthReply{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After"),
		cacheControl: resp.Header.Get("Cache-Control"), body: body, took: time.Since(start)}
	var e struct {
		Error string `json:"error"`
	}
	_ = json.Unmarshal(body, &e)
	r.errCode = e.Error
	return r
}

// tokenPair is the answer of a successful grant.
type tokenPair struct {
	Access  string `json:"access_token"`
	Refresh string `json:"refresh_token"`
}

func mustTokens(t *testing.T, r oauthReply) tokenPair {
	t.Helper()
	var p tokenPair
	if r.status != http.StatusOK || json.Unmarshal(r.body, &p) != nil || p.Access == "" {
		t.Fatalf("grant: status %d, body %s", r.status, r.body)
	}
	return p
}

// freezeSetup is a production server with one client and one user.
type freezeSetup struct {
	env    map[string]string
	s      *server
	secret string
}

func newFreezeSetup(t *testing.T, env map[string]string) *freezeSetup {
	t.Helper()
	mustRunCLI(t, env, "", "migrate")
	secret := addClient(t, env, "--scopes", "read", "app")
	mustRunCLI(t, env, "pw-of-zoe\n", "user", "add", "zoe")
	return &freezeSetup{env: env, s: startServer(t, env), secret: secret}
}

func (f *freezeSetup) password(t *testing.T) oauthReply {
	return postForm(t, f.s, "/token", "app", f.secret,
		url.Values{"grant_type": {"password"}, "username": {"zoe"}, "password": {"pw-of-zoe"}})
}

func (f *freezeSetup) refresh(t *testing.T, token string) oauthReply {
	return postForm(t, f.s, "/token", "app", f.secret,
		url.Values{"grant_type": {"refresh_token"}, "refresh_token": {token}})
}

func (f *freezeSetup) introspect(t *testing.T, token string) oauthReply {
	return postForm(t, f.s, "/introspect", "app", f.secret, url.Values{"token": {token}})
}

func testKEK() string {
	kek := make([]byte, 32)
	for i := range kek {
		kek[i] = byte(i + 1)
	}
	return base64.StdEncoding.EncodeToString(kek)
}

// TestFrozenDatabase: with every PostgreSQL process stopped (SIGSTOP; TCP
// stays up, statement_timeout cannot fire), /token (password and refresh)
// and /introspect answer 503 temporarily_unavailable with Retry-After and
// Cache-Control: no-store after the per-call deadline instead of hanging,
// and everything works again by itself after the thaw. No Redis and no
// client cache, so every request needs the database.
func TestFrozenDatabase(t *testing.T) {
	srv, dsn := storetest.StartPrivatePostgres(t, storetest.PostgresOptions{}, "e2e_frozen")
	f := newFreezeSetup(t, map[string]string{
		"DATABASE_URL":                   dsn,
		"TOKENSERVER_KEK":                testKEK(),
		"TOKENSERVER_CLIENT_CACHE_TTL":   "0",
		"TOKENSERVER_DB_QUERY_TIMEOUT":   "3s",
		"TOKENSERVER_DB_CONNECT_TIMEOUT": "3s",
	})
	before := mustTokens(t, f.password(t))

	if err := srv.Freeze(); err != nil {
		srv.Thaw()
		t.Fatal(err)
	}
	var thawOnce sync.Once
	thaw := func() {
		if err := srv.Thaw(); err != nil {
			t.Error(err)
		}
	}
	defer thawOnce.Do(thaw) // before Stop and the server's shutdown
	requests := []struct {
		name string
		do   func(*testing.T) oauthReply
	}{
		{"password", f.password},
		{"refresh", func(t *testing.T) oauthReply { return f.refresh(t, before.Refresh) }},
		{"introspect", func(t *testing.T) oauthReply { return f.introspect(t, before.Access) }},
	}
	replies := make([]oauthReply, len(requests))
	var wg sync.WaitGroup
	for i, rq := range requests {
		wg.Go(func() { replies[i] = rq.do(t) })
	}
	wg.Wait()
	for i, rq := range requests {
		r := replies[i]
		if r.status != http.StatusServiceUnavailable || r.errCode != "temporarily_unavailable" {
			t.Errorf("%s while frozen: %d %s, want 503 temporarily_unavailable", rq.name, r.status, r.body)
		}
		if n, err := strconv.Atoi(r.retryAfter); err != nil || n <= 0 {
			t.Errorf("%s while frozen: Retry-After %q, want a positive number of seconds", rq.name, r.retryAfter)
		}
		if r.cacheControl != "no-store" {
			t.Errorf("%s while frozen: Cache-Control %q, want no-store", rq.name, r.cacheControl)
		}
		t.Logf("%s while frozen: %d after %v", rq.name, r.status, r.took)
	}
	thawOnce.Do(thaw)

	// Recovers by itself: the connections that timed out were closed, the
	// pool dials new ones.
	deadline := time.Now().Add(freezeGuard)
	for f.password(t).status != http.StatusOK {
		if time.Now().After(deadline) {
			t.Fatalf("/token did not recover within %v of the thaw", freezeGuard)
		}
		time.Sleep(50 * time.Millisecond)
	}
	after := mustTokens(t, f.password(t))
	mustTokens(t, f.refresh(t, after.Refresh))
	if r := f.introspect(t, after.Access); r.status != http.StatusOK || !strings.Contains(string(r.body), `"active":true`) {
		t.Errorf("introspect after thaw: %d %s", r.status, r.body)
	}
}

// TestFrozenRedis: with the Redis cache stopped (SIGSTOP), /introspect still
// answers from PostgreSQL (the tiered store falls back once the cache call
// hits its deadline) and the password grant still works (the login
// throttle falls back to the process), without hanging.
func TestFrozenRedis(t *testing.T) {
	rd, err := storetest.StartRedisServer()
	if err != nil {
		t.Fatalf("redis-server: %v", err)
	}
	t.Cleanup(func() { _ = rd.Stop() })
	f := newFreezeSetup(t, map[string]string{
		"DATABASE_URL":    storetest.StartPostgres(t),
		"REDIS_URL":       "redis://" + rd.Addr,
		"TOKENSERVER_KEK": testKEK(),
	})
	// Wait until the cache answers revocation checks (the first reseed).
	deadline := time.Now().Add(freezeGuard)
	for !strings.Contains(f.s.stderr.String(), "revocation cache reseeded") {
		if time.Now().After(deadline) {
			t.Fatalf("no reseed within %v:\n%s", freezeGuard, f.s.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	tok := mustTokens(t, f.password(t))

	if err := rd.Freeze(); err != nil {
		t.Fatal(err)
	}
	var thawOnce sync.Once
	thaw := func() {
		if err := rd.Thaw(); err != nil {
			t.Error(err)
		}
	}
	defer thawOnce.Do(thaw)
	r := f.introspect(t, tok.Access)
	if r.status != http.StatusOK || !strings.Contains(string(r.body), `"active":true`) {
		t.Errorf("introspect with Redis frozen: %d %s, want 200 active", r.status, r.body)
	}
	t.Logf("introspect with Redis frozen: %d after %v", r.status, r.took)
	p := f.password(t)
	mustTokens(t, p)
	t.Logf("password grant with Redis frozen: %d after %v", p.status, p.took)
	thawOnce.Do(thaw)

	if r := f.introspect(t, tok.Access); r.status != http.StatusOK || !strings.Contains(string(r.body), `"active":true`) {
		t.Errorf("introspect after thaw: %d %s", r.status, r.body)
	}
}
