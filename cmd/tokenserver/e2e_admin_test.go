package main

import (
	"context"
	"strings"
	"testing"
)

// TestUserLifecycleCommands: set-password, disable/enable and delete act on
// a running server: the sessions of the old password end, the new password
// works, a re-enabled user logs in again, a deleted user cannot. The server
// applies migrations itself (--migrate) and runs without a client cache, so
// a deleted client is refused at once.
func TestUserLifecycleCommands(t *testing.T) {
	env := productionEnv(t)
	env["TOKENSERVER_MIGRATE"] = "true"
	env["TOKENSERVER_CLIENT_CACHE_TTL"] = "0"
	s := startServer(t, env) // migrates the empty database
	secret := addClient(t, env, "--scopes", "read", "app")
	mustRunCLI(t, env, "first-password\n", "user", "add", "lee")
	cfg := s.oauth2Config("app", secret, "read")
	ctx := context.Background()
	login := func(pw string) error {
		_, err := cfg.PasswordCredentialsToken(ctx, "lee", pw)
		return err
	}

	tok, err := cfg.PasswordCredentialsToken(ctx, "lee", "first-password")
	if err != nil {
		t.Fatal(err)
	}
	if out := mustRunCLI(t, env, "second-password\n", "user", "set-password", "lee"); !strings.Contains(out, "1 session(s) revoked") {
		t.Errorf("set-password output: %s", out)
	}
	if _, err := refresh(ctx, cfg, tok.RefreshToken); retrieveErrorCode(err) != "invalid_grant" {
		t.Errorf("refresh after a password change: %v, want invalid_grant", err)
	}
	if retrieveErrorCode(login("first-password")) != "invalid_grant" {
		t.Error("the old password still logs in")
	}
	if err := login("second-password"); err != nil {
		t.Errorf("the new password: %v", err)
	}

	mustRunCLI(t, env, "", "user", "disable", "lee")
	if retrieveErrorCode(login("second-password")) != "invalid_grant" {
		t.Error("a disabled user logs in")
	}
	mustRunCLI(t, env, "", "user", "enable", "lee")
	if err := login("second-password"); err != nil {
		t.Errorf("a re-enabled user: %v", err)
	}

	mustRunCLI(t, env, "", "user", "delete", "lee")
	if retrieveErrorCode(login("second-password")) != "invalid_grant" {
		t.Error("a deleted user logs in")
	}
	mustRunCLI(t, env, "", "client", "delete", "app")
	if retrieveErrorCode(login("second-password")) != "invalid_client" {
		t.Error("a deleted client still authenticates with the cache off")
	}
}

// TestKeysRotateTooEarly: a planned rotation is refused until the next key
// has been published for the JWKS max-age; the set is unchanged.
func TestKeysRotateTooEarly(t *testing.T) {
	env := productionEnv(t)
	mustRunCLI(t, env, "", "migrate")
	newTestKeyManager(t, env) // the set a server creates at start (keys list creates none)
	before := mustRunCLI(t, env, "", "keys", "list")
	out, err := runCLI(t, env, "", "keys", "rotate")
	if err == nil || !strings.Contains(err.Error(), "too early") {
		t.Fatalf("keys rotate right after the keys were created: err %v\n%s", err, out)
	}
	if after := mustRunCLI(t, env, "", "keys", "list"); after != before {
		t.Errorf("a refused rotation changed the keys:\n%s\n%s", before, after)
	}
}
