package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/tokenserver/tokenserver/tokenserver/password"
)

// listedUser is what the user-model test reads of `user list --json`.
type listedUser struct {
	Username   string                     `json:"username"`
	Email      *string                    `json:"email"`
	Roles      []string                   `json:"roles"`
	Attributes map[string]json.RawMessage `json:"attributes"`
}

func listUsersJSON(t *testing.T, env map[string]string) map[string]listedUser {
	t.Helper()
	var users []listedUser
	if err := json.Unmarshal([]byte(mustRunCLI(t, env, "", "user", "list", "--json")), &users); err != nil {
		t.Fatal(err)
	}
	out := map[string]listedUser{}
	for _, u := range users {
		out[u.Username] = u
	}
	return out
}

// TestUserProfileCommands, on PostgreSQL and a running server: user add
// with email, roles and attributes; a client registered for roles and one
// attribute gets exactly those claims; user update changes what the next
// refresh carries without ending the session; emails are unique
// case-insensitively; reserved claim names are refused at registration.
func TestUserProfileCommands(t *testing.T) {
	env := productionEnv(t)
	env["TOKENSERVER_MIGRATE"] = "true"
	s := startServer(t, env)
	secret := addClient(t, env, "--scopes", "read",
		"--token-roles", "--token-attributes", "department", "app")
	plain := addClient(t, env, "--scopes", "read", "plain")

	mustRunCLI(t, env, "lee-password-1\n", "user", "add", "--email", "Lee@Example.COM",
		"--role", "viewer", "--role", "admin,auditor", "--attribute", "department=sales",
		"--attribute-json", "level=3", "lee")
	lee := listUsersJSON(t, env)["lee"]
	if lee.Email == nil || *lee.Email != "Lee@example.com" {
		t.Errorf("email = %v, want Lee@example.com (domain lower-cased)", lee.Email)
	}
	if want := []string{"admin", "auditor", "viewer"}; !reflect.DeepEqual(lee.Roles, want) {
		t.Errorf("roles = %q, want %q", lee.Roles, want)
	}
	if string(lee.Attributes["department"]) != `"sales"` || string(lee.Attributes["level"]) != `3` {
		t.Errorf("attributes = %s", lee.Attributes)
	}

	ctx := context.Background()
	cfg := s.oauth2Config("app", secret, "read")
	tok, err := cfg.PasswordCredentialsToken(ctx, "lee", "lee-password-1")
	if err != nil {
		t.Fatal(err)
	}
	claims := verifyWithJWKS(t, s.URL, tok.AccessToken)
	if !reflect.DeepEqual(claims["roles"], []any{"admin", "auditor", "viewer"}) || claims["department"] != "sales" {
		t.Errorf("claims roles = %v, department = %v", claims["roles"], claims["department"])
	}
	if _, ok := claims["level"]; ok {
		t.Error("an attribute the client is not registered for reached the token")
	}
	plainTok, err := s.oauth2Config("plain", plain, "read").PasswordCredentialsToken(ctx, "lee", "lee-password-1")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"roles", "department", "level"} {
		if v, ok := verifyWithJWKS(t, s.URL, plainTok.AccessToken)[k]; ok {
			t.Errorf("a client without permission got %s = %v", k, v)
		}
	}

	out := mustRunCLI(t, env, "", "user", "update", "lee", "--role", "editor", "--remove-attribute", "department")
	if !strings.Contains(out, "user lee updated") {
		t.Errorf("user update printed %q", out)
	}
	next, err := refresh(ctx, cfg, tok.RefreshToken)
	if err != nil {
		t.Fatalf("refresh after a profile change (it must end no session): %v", err)
	}
	claims = verifyWithJWKS(t, s.URL, next.AccessToken)
	if !reflect.DeepEqual(claims["roles"], []any{"editor"}) {
		t.Errorf("refreshed roles = %v, want [editor]", claims["roles"])
	}
	if v, ok := claims["department"]; ok {
		t.Errorf("removed attribute still in the refreshed token: %v", v)
	}
	if !introspectActive(t, s, "app", secret, tok.AccessToken) {
		t.Error("a profile change revoked the earlier access token")
	}

	// Refusals: one line each, and nothing changes.
	mustRunCLI(t, env, "kim-password-1\n", "user", "add", "--email", "kim@example.com", "kim")
	before := mustRunCLI(t, env, "", "user", "list", "--json")
	tests := []struct {
		name  string
		stdin string
		args  []string
		want  string
	}{
		{"email taken, other case", "ann-password-1\n", []string{"user", "add", "--email", "LEE@example.com", "ann"}, "already exists"},
		{"update to a taken email", "", []string{"user", "update", "kim", "--email", "lee@EXAMPLE.com"}, "belongs to another user"},
		{"not an email", "ann-password-1\n", []string{"user", "add", "--email", "<ann@example.com>", "ann"}, "not a plain address"},
		{"role with a space", "", []string{"user", "update", "kim", "--role", "a b"}, "invalid role"},
		{"attribute name", "", []string{"user", "update", "kim", "--attribute", "1x=y"}, "NAME=VALUE"},
		{"attribute JSON", "", []string{"user", "update", "kim", "--attribute-json", "x={"}, "not one JSON value"},
		{"attributes too big", "", []string{"user", "update", "kim", "--attribute", "blob=" + strings.Repeat("x", 5000)}, "larger than 4096"},
		{"remove a missing attribute", "", []string{"user", "update", "kim", "--remove-attribute", "nope"}, "no attribute"},
		{"reserved claim", "", []string{"client", "add", "--public", "--token-attributes", "department,Sub", "bad"}, "registered claim"},
		{"not an attribute name", "", []string{"client", "add", "--public", "--token-attributes", "a.b", "bad"}, "not an attribute name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := runCLI(t, env, tt.stdin, tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("%v: err %v, want one line containing %q\n%s", tt.args, err, tt.want, out)
			}
		})
	}
	if after := mustRunCLI(t, env, "", "user", "list", "--json"); after != before {
		t.Errorf("refused commands changed the users:\n%s\n%s", before, after)
	}
	var clients []struct {
		ClientID        string   `json:"client_id"`
		TokenRoles      bool     `json:"token_roles"`
		TokenAttributes []string `json:"token_attributes"`
	}
	if err := json.Unmarshal([]byte(mustRunCLI(t, env, "", "client", "list", "--json")), &clients); err != nil {
		t.Fatal(err)
	}
	if len(clients) != 2 || clients[0].ClientID != "app" || !clients[0].TokenRoles ||
		!reflect.DeepEqual(clients[0].TokenAttributes, []string{"department"}) ||
		clients[1].TokenRoles || len(clients[1].TokenAttributes) != 0 {
		t.Errorf("client list --json: %+v", clients)
	}
}

// TestPasswordPolicyCommands: user add and user set-password apply the
// password policy (length in characters, configurable minimum, blocklist
// from the flag or its environment twin); refused passwords change nothing.
func TestPasswordPolicyCommands(t *testing.T) {
	env := productionEnv(t)
	mustRunCLI(t, env, "", "migrate")
	var bl bytes.Buffer
	if err := password.BuildBlocklist(&bl, strings.NewReader("password123\nbreached-but-long-enough\n")); err != nil {
		t.Fatal(err)
	}
	blPath := filepath.Join(t.TempDir(), "blocklist")
	if err := os.WriteFile(blPath, bl.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	mustRunCLI(t, env, "ok-password\n", "user", "add", "sam")
	blEnv := map[string]string{"TOKENSERVER_PASSWORD_BLOCKLIST": blPath}
	for k, v := range env {
		blEnv[k] = v
	}

	tests := []struct {
		name  string
		env   map[string]string
		stdin string
		args  []string
		want  string // "" for success
	}{
		{"seven characters", env, "1234567\n", []string{"user", "add", "u1"}, "too short"},
		{"seven two-byte characters", env, "ééééééé\n", []string{"user", "add", "u2"}, "too short"},
		{"eight two-byte characters", env, "éééééééé\n", []string{"user", "add", "u3"}, ""},
		{"no composition rules", env, "aaaaaaaa\n", []string{"user", "add", "u4"}, ""},
		{"raised minimum", env, "fourteen-chars\n", []string{"user", "add", "--password-min-length", "15", "u5"}, "too short"},
		{"raised minimum from the environment", map[string]string{"TOKENSERVER_PASSWORD_MIN_LENGTH": "15", "DATABASE_URL": env["DATABASE_URL"]},
			"fourteen-chars\n", []string{"user", "add", "u6"}, "too short"},
		{"minimum below the floor", env, "xyzzy-12345\n", []string{"user", "add", "--password-min-length", "4", "u7"}, "below 8"},
		{"over the maximum", env, strings.Repeat("a", password.MaxPasswordBytes+1) + "\n", []string{"user", "add", "u8"}, "too long"},
		{"breached, flag", env, "password123\n", []string{"user", "add", "--password-blocklist", blPath, "u9"}, "breached"},
		{"breached, environment", blEnv, "breached-but-long-enough\n", []string{"user", "add", "u10"}, "breached"},
		{"not breached", blEnv, "not-in-the-list\n", []string{"user", "add", "u11"}, ""},
		{"missing blocklist", env, "not-in-the-list\n", []string{"user", "add", "--password-blocklist", blPath + ".gone", "u12"}, "--password-blocklist"},
		{"set-password too short", env, "tiny12\n", []string{"user", "set-password", "sam"}, "too short"},
		{"set-password breached", blEnv, "password123\n", []string{"user", "set-password", "sam"}, "breached"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := runCLI(t, tt.env, tt.stdin, tt.args...)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("%v: %v\n%s", tt.args, err, out)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n")):
				t.Fatalf("%v: err %v, want one line containing %q\n%s", tt.args, err, tt.want, out)
			case tt.want != "" && strings.Contains(err.Error(), strings.TrimSpace(tt.stdin)):
				t.Errorf("the error names the password: %v", err)
			}
		})
	}
	users := listUsersJSON(t, env)
	for _, name := range []string{"u1", "u2", "u5", "u6", "u7", "u8", "u9", "u10", "u12"} {
		if _, ok := users[name]; ok {
			t.Errorf("refused user %s was created", name)
		}
	}
	for _, name := range []string{"u3", "u4", "u11", "sam"} {
		if _, ok := users[name]; !ok {
			t.Errorf("user %s missing", name)
		}
	}
}
