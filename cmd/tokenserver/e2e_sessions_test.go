package main

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"testing"
	"time"

	"github.com/tokenserver/tokenserver/store/feedwire"
	"github.com/tokenserver/tokenserver/store/storetest"
)

// eventually polls cond until it holds; bound only detects a hang (a
// loaded machine must not make it fail), it is not the promise under test.
func eventually(t *testing.T, bound time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > bound {
			t.Fatalf("%s: not within %v", what, bound)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Since(start)
}

// An admin revocation made without REDIS_URL reaches servers that cache
// revocations in Redis: every server relays the durable record. Before,
// the servers kept answering from their Redis copy of the older entry.
func TestAdminRevocationWithoutRedisReachesServers(t *testing.T) {
	r := newRevocationSetup(t)
	// A first revoke-all puts an older `sub` entry into Redis.
	mustRunCLI(t, r.env, "", "user", "revoke-sessions", "max")
	time.Sleep(1100 * time.Millisecond) // the next token's iat is a later second
	tok := r.login(t)
	if !introspectActive(t, r.s, "app", r.secret, tok.AccessToken) {
		t.Fatal("a token issued after the first revoke-all is inactive")
	}

	noRedis := maps.Clone(r.env)
	delete(noRedis, "REDIS_URL")
	mustRunCLI(t, noRedis, "", "user", "revoke-sessions", "max")
	took := eventually(t, 20*time.Second, "revocation without Redis reaching the server", func() bool {
		return !introspectActive(t, r.s, "app", r.secret, tok.AccessToken)
	})
	t.Logf("CLI without Redis → /introspect inactive: %v", took.Round(time.Millisecond))
	if _, err := refresh(context.Background(), r.cfg, tok.RefreshToken); retrieveErrorCode(err) != "invalid_grant" {
		t.Errorf("refresh after the revocation: %v, want invalid_grant", err)
	}
}

// A revocation made while Redis is down reaches a resource server on the
// server's SSE stream while Redis is still down: the server relays it from
// PostgreSQL. The resource server rejects the revoked token as revoked
// (401) and still accepts others, so it got the revocation rather than
// failing closed. Before, the stream kept sending heartbeats and the token
// stayed accepted for the whole outage.
func TestRevocationDuringRedisOutageReachesSSE(t *testing.T) {
	redisSrv, err := storetest.StartRedisServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = redisSrv.Stop() })
	env := productionEnv(t)
	env["REDIS_URL"] = "redis://" + redisSrv.Addr
	r := newRevocationSetupEnv(t, env)
	rs := startResourceServer(t, "--issuer", r.s.URL, "--audience", r.s.URL, "--revocation", "sse",
		"--client-id", "app", "--client-secret", r.secret)
	revoked, kept := r.login(t), r.login(t)
	for _, tok := range []string{revoked.AccessToken, kept.AccessToken} {
		if got := rs.status(t, tok); got != http.StatusOK {
			t.Fatalf("fresh token: status %d\n%s", got, rs.stderr.String())
		}
	}

	if err := redisSrv.Stop(); err != nil {
		t.Fatal(err)
	}
	revoke(t, r.s, "app", r.secret, revoked.AccessToken, "access_token")
	took := eventually(t, 20*time.Second, "revocation during the Redis outage reaching the resource server", func() bool {
		return rs.status(t, revoked.AccessToken) == http.StatusUnauthorized
	})
	t.Logf("revoke during a Redis outage → resource server (SSE) rejects: %v", took.Round(time.Millisecond))
	if got := rs.status(t, kept.AccessToken); got != http.StatusOK {
		t.Errorf("an unrevoked token during the outage: status %d, want 200 (the feed stays healthy through PostgreSQL)", got)
	}
	if introspectActive(t, r.s, "app", r.secret, revoked.AccessToken) {
		t.Error("/introspect says active during the outage")
	}
}

// Item 8: an admin revocation lasts as long as the longest-lived token any
// running server issues, whatever the CLI's own --access-token-ttl says:
// servers record their lifetime in the database at start. Before, the CLI
// sized the `sub` entry by its 15-minute default, and a server issuing 2-hour
// tokens saw them come back to life after 15 minutes.
func TestAdminRevocationOutlivesServersTokens(t *testing.T) {
	env := productionEnv(t)
	env["TOKENSERVER_ACCESS_TOKEN_TTL"] = "2h"
	r := newRevocationSetupEnv(t, env)
	cliEnv := maps.Clone(r.env)
	delete(cliEnv, "TOKENSERVER_ACCESS_TOKEN_TTL") // the CLI runs with its default
	mustRunCLI(t, cliEnv, "", "user", "revoke-sessions", "max")

	req, _ := http.NewRequest(http.MethodGet, r.s.URL+"/revocations", nil)
	req.SetBasicAuth("app", r.secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var snap feedwire.Snapshot
	if err := json.NewDecoder(resp.Body).Decode(&snap); err != nil {
		t.Fatal(err)
	}
	for _, e := range snap.Revocations {
		if e.Kind == "sub" {
			if lasts := e.ExpiresAt.Sub(e.NotBefore); lasts < 2*time.Hour {
				t.Fatalf("the user's revocation lasts %v, want at least the server's 2h token lifetime", lasts)
			}
			return
		}
	}
	t.Fatalf("no sub entry in %+v", snap.Revocations)
}
