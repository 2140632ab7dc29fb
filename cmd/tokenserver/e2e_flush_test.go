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

// TestFlushNeverUnrevokes: FLUSHALL on a running server's Redis used to
// un-revoke tokens until the next periodic reseed (up to a minute). Now the
// very next /introspect answers from PostgreSQL (active: false), and the
// server reseeds Redis at once rather than at its next tick.
func TestFlushNeverUnrevokes(t *testing.T) {
	env := productionEnv(t)
	srv, err := storetest.StartRedisServer() // ours alone: FLUSHALL disturbs no other test
	if err != nil {
		t.Fatalf("StartRedisServer: %v", err)
	}
	t.Cleanup(func() { _ = srv.Stop() })
	env["REDIS_URL"] = "redis://" + srv.Addr
	raw := goredis.NewClient(&goredis.Options{Addr: srv.Addr})
	t.Cleanup(func() { _ = raw.Close() })
	marker := env["TOKENSERVER_REDIS_PREFIX"] + "revgen"

	mustRunCLI(t, env, "", "migrate")
	out := mustRunCLI(t, env, "", "client", "add", "--generate-secret", "--scopes", "read", "app")
	_, secret, _ := strings.Cut(out, "client secret (shown once, store it now): ")
	secret = strings.TrimSpace(secret)
	mustRunCLI(t, env, "pw-of-max\n", "user", "add", "max")
	s := startServer(t, env)
	cfg := s.oauth2Config("app", secret, "read")
	login := func() *oauth2.Token {
		t.Helper()
		tok, err := cfg.PasswordCredentialsToken(context.Background(), "max", "pw-of-max")
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	// Until its first reseed the server reads PostgreSQL only; wait for it,
	// so that Redis is what answers before the flush.
	waitUntil(t, "the start-up reseed", func() bool { return strings.Contains(s.stderr.String(), "revocation cache reseeded") })

	var revoked []*oauth2.Token
	for range 4 {
		tok := login()
		revoke(t, s, "app", secret, tok.AccessToken, "access_token")
		revoked = append(revoked, tok)
	}
	live := login()
	for _, tok := range revoked {
		if introspectActive(t, s, "app", secret, tok.AccessToken) {
			t.Fatal("revoked token active before the flush")
		}
	}

	if err := raw.FlushAll(t.Context()).Err(); err != nil {
		t.Fatal(err)
	}
	flushed := time.Now()
	for i, tok := range revoked {
		if introspectActive(t, s, "app", secret, tok.AccessToken) {
			t.Errorf("revoked token %d active after FLUSHALL", i+1)
		}
	}
	answered := time.Since(flushed)
	if !introspectActive(t, s, "app", secret, live.AccessToken) {
		t.Error("an unrevoked token is inactive after FLUSHALL")
	}

	waitUntil(t, "the reseed after FLUSHALL", func() bool {
		v, err := raw.Get(t.Context(), marker).Result()
		if err != nil && !errors.Is(err, goredis.Nil) {
			t.Fatal(err)
		}
		return strings.HasPrefix(v, "ready:")
	})
	reseeded := time.Since(flushed)
	if !strings.Contains(s.stderr.String(), "reseeding now") {
		t.Errorf("the reseed did not come from the read's signal; log:\n%s", s.stderr.String())
	}
	for i, tok := range revoked {
		if introspectActive(t, s, "app", secret, tok.AccessToken) {
			t.Errorf("revoked token %d active after the reseed", i+1)
		}
		if n, err := raw.Exists(t.Context(), env["TOKENSERVER_REDIS_PREFIX"]+"rev:jti:"+tokenJTI(t, tok.AccessToken)).Result(); err != nil || n != 1 {
			t.Errorf("revoked token %d: not back in Redis after the reseed (%d, %v)", i+1, n, err)
		}
	}
	t.Logf("FLUSHALL → 4 /introspect answered active:false: %v (the next read); FLUSHALL → reseed complete: %v",
		answered.Round(time.Microsecond), reseeded.Round(time.Microsecond))
}

// waitUntil polls cond; a hang guard, not a timing assertion.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s did not happen within 30s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
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
