package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"golang.org/x/oauth2"

	"github.com/tokenserver/tokenserver/store/storetest"
)

// flushSetup is a production server on a Redis of its own (FLUSHALL
// disturbs no other test), with a client and a user, past its start-up
// reseed.
type flushSetup struct {
	s      *server
	secret string
	raw    *goredis.Client
	prefix string
	cfg    *oauth2.Config
}

func newFlushSetup(t *testing.T) *flushSetup {
	t.Helper()
	env := productionEnv(t)
	srv, err := storetest.StartRedisServer()
	if err != nil {
		t.Fatalf("StartRedisServer: %v", err)
	}
	t.Cleanup(func() { _ = srv.Stop() })
	env["REDIS_URL"] = "redis://" + srv.Addr
	raw := goredis.NewClient(&goredis.Options{Addr: srv.Addr})
	t.Cleanup(func() { _ = raw.Close() })

	mustRunCLI(t, env, "", "migrate")
	secret := addClient(t, env, "--scopes", "read", "app")
	mustRunCLI(t, env, "pw-of-max\n", "user", "add", "max")
	s := startServer(t, env)
	f := &flushSetup{s: s, secret: secret, raw: raw, prefix: env["TOKENSERVER_REDIS_PREFIX"],
		cfg: s.oauth2Config("app", secret, "read")}
	// Until its first reseed the server reads PostgreSQL only; wait for it,
	// so that Redis is what answers before the flush.
	eventually(t, 30*time.Second, "the start-up reseed", f.ready(t))
	return f
}

func (f *flushSetup) login(t *testing.T) *oauth2.Token {
	t.Helper()
	tok, err := f.cfg.PasswordCredentialsToken(context.Background(), "max", "pw-of-max")
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// ready returns a condition: the cache's marker says ready.
func (f *flushSetup) ready(t *testing.T) func() bool {
	return func() bool {
		v, err := f.raw.Get(t.Context(), f.prefix+"revgen").Result()
		if err != nil && !errors.Is(err, goredis.Nil) {
			t.Fatal(err)
		}
		return strings.HasPrefix(v, "ready:")
	}
}

func (f *flushSetup) flushAll(t *testing.T) {
	t.Helper()
	if err := f.raw.FlushAll(t.Context()).Err(); err != nil {
		t.Fatal(err)
	}
}

// TestFlushNeverUnrevokes: FLUSHALL on a running server's Redis used to
// un-revoke tokens until the next periodic reseed (up to a minute). Now the
// very next /introspect answers from PostgreSQL (active: false), and the
// server reseeds Redis at once rather than at its next tick.
func TestFlushNeverUnrevokes(t *testing.T) {
	f := newFlushSetup(t)
	var revoked []*oauth2.Token
	for range 4 {
		tok := f.login(t)
		revoke(t, f.s, "app", f.secret, tok.AccessToken, "access_token")
		revoked = append(revoked, tok)
	}
	live := f.login(t)
	for _, tok := range revoked {
		if introspectActive(t, f.s, "app", f.secret, tok.AccessToken) {
			t.Fatal("revoked token active before the flush")
		}
	}

	f.flushAll(t)
	flushed := time.Now()
	for i, tok := range revoked {
		if introspectActive(t, f.s, "app", f.secret, tok.AccessToken) {
			t.Errorf("revoked token %d active after FLUSHALL", i+1)
		}
	}
	answered := time.Since(flushed)
	if !introspectActive(t, f.s, "app", f.secret, live.AccessToken) {
		t.Error("an unrevoked token is inactive after FLUSHALL")
	}

	eventually(t, 30*time.Second, "the reseed after FLUSHALL", f.ready(t))
	reseeded := time.Since(flushed)
	if !strings.Contains(f.s.stderr.String(), "reseeding now") {
		t.Errorf("the reseed did not come from the reads' signal; log:\n%s", f.s.stderr.String())
	}
	for i, tok := range revoked {
		if introspectActive(t, f.s, "app", f.secret, tok.AccessToken) {
			t.Errorf("revoked token %d active after the reseed", i+1)
		}
		key := f.prefix + "rev:jti:" + tokenJTI(t, tok.AccessToken)
		if n, err := f.raw.Exists(t.Context(), key).Result(); err != nil || n != 1 {
			t.Errorf("revoked token %d: not back in Redis after the reseed (%d, %v)", i+1, n, err)
		}
	}
	t.Logf("FLUSHALL → 4 /introspect answered active:false: %v (the next read); FLUSHALL → reseed complete: %v",
		answered.Round(time.Microsecond), reseeded.Round(time.Microsecond))
}

// TestFlushWithoutReadsReseeded: a flush no request reads through
// (resource servers snapshot Redis directly, and they get no snapshot from
// an unseeded cache) is found by the server's marker probe and reseeded,
// well before the one-minute backstop reseed.
func TestFlushWithoutReadsReseeded(t *testing.T) {
	f := newFlushSetup(t)
	tok := f.login(t)
	revoke(t, f.s, "app", f.secret, tok.AccessToken, "access_token")
	f.flushAll(t)
	flushed := time.Now()
	eventually(t, 30*time.Second, "the reseed after a FLUSHALL with no reads", f.ready(t))
	if !strings.Contains(f.s.stderr.String(), "reseeding now") {
		t.Errorf("the reseed did not come from the probe's signal; log:\n%s", f.s.stderr.String())
	}
	key := f.prefix + "rev:jti:" + tokenJTI(t, tok.AccessToken)
	if n, err := f.raw.Exists(t.Context(), key).Result(); err != nil || n != 1 {
		t.Errorf("revocation not back in Redis after the reseed (%d, %v)", n, err)
	}
	t.Logf("FLUSHALL with no reads → reseed complete: %v", time.Since(flushed).Round(time.Millisecond))
}

// tokenJTI reads the jti claim of a JWT (no verification: the server made it).
func tokenJTI(t *testing.T, token string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWS: %q", token)
	}
	body, err := base64.RawURLEncoding.DecodeString(parts[1])
	var claims struct {
		JTI string `json:"jti"`
	}
	if err == nil {
		err = json.Unmarshal(body, &claims)
	}
	if err != nil || claims.JTI == "" {
		t.Fatalf("no jti in %s: %v", body, err)
	}
	return claims.JTI
}
