package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/tokenserver/tokenserver/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

// TestEmbeddedDefault is the README's quick start: `serve` with no database
// creates the demo client and user; x/oauth2 gets tokens, refreshes, and the
// access token verifies against the published JWKS.
func TestEmbeddedDefault(t *testing.T) {
	s := startServer(t, map[string]string{})
	if out := s.stdout.String(); !strings.Contains(out, "demo-client") || !strings.Contains(out, "curl") {
		t.Errorf("start-up banner lacks the demo credentials and curl line:\n%s", out)
	}
	checkPasswordAndRefresh(t, s, "demo-client", "demo-secret", "demo", "demo-password")

	resp, err := http.Get(s.URL + "/.well-known/oauth-authorization-server")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var md map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&md); err != nil {
		t.Fatal(err)
	}
	if md["issuer"] != s.URL || md["token_endpoint"] != s.URL+"/token" || fmt.Sprint(md["scopes_supported"]) != "[read write]" {
		t.Errorf("discovery metadata: %v", md)
	}
}

// checkPasswordAndRefresh runs the password grant, verifies the access token
// through the JWKS, refreshes, and checks that the consumed refresh token is
// rejected as reuse and that reuse revoked the family.
func checkPasswordAndRefresh(t *testing.T, s *server, clientID, secret, user, pw string) {
	t.Helper()
	ctx := context.Background()
	cfg := s.oauth2Config(clientID, secret, "read")
	tok, err := cfg.PasswordCredentialsToken(ctx, user, pw)
	if err != nil {
		t.Fatalf("password grant: %v", err)
	}
	if tok.TokenType != "Bearer" || tok.RefreshToken == "" || tok.Expiry.IsZero() {
		t.Fatalf("token response: type %q, refresh token set %v, expiry %v", tok.TokenType, tok.RefreshToken != "", tok.Expiry)
	}
	claims := verifyWithJWKS(t, s.URL, tok.AccessToken)
	for k, want := range map[string]any{"iss": s.URL, "client_id": clientID, "scope": "read", "username": user} {
		if claims[k] != want {
			t.Errorf("claim %s = %v, want %v", k, claims[k], want)
		}
	}
	for _, k := range []string{"sub", "aud", "exp", "iat", "jti", "sid"} {
		if _, ok := claims[k]; !ok {
			t.Errorf("claim %s missing", k)
		}
	}
	if claims["sub"] == user {
		t.Errorf("sub is the username; want the stable user id")
	}

	next, err := refresh(ctx, cfg, tok.RefreshToken)
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if next.RefreshToken == tok.RefreshToken {
		t.Fatal("refresh token was not rotated")
	}
	refreshed := verifyWithJWKS(t, s.URL, next.AccessToken)
	if refreshed["sid"] != claims["sid"] {
		t.Errorf("sid changed on refresh: %v → %v", claims["sid"], refreshed["sid"])
	}

	// Reuse of the consumed token: invalid_grant, and the family is revoked,
	// so the newest refresh token stops working too (RFC 9700 §4.14.2).
	if _, err := refresh(ctx, cfg, tok.RefreshToken); retrieveErrorCode(err) != "invalid_grant" {
		t.Fatalf("reuse: got %v, want invalid_grant", err)
	}
	if _, err := refresh(ctx, cfg, next.RefreshToken); retrieveErrorCode(err) != "invalid_grant" {
		t.Fatalf("newest token after reuse: got %v, want invalid_grant", err)
	}
}

func TestServeRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"bad duration", map[string]string{"TOKENSERVER_ACCESS_TOKEN_TTL": "soon"}, "TOKENSERVER_ACCESS_TOKEN_TTL"},
		{"negative ttl", map[string]string{"TOKENSERVER_ACCESS_TOKEN_TTL": "-1m"}, "access-token-ttl"},
		{"bad alg", map[string]string{"TOKENSERVER_SIGNING_ALG": "HS256"}, "signing-alg"},
		{"bad issuer", map[string]string{"TOKENSERVER_ISSUER": "not a url"}, "issuer"},
		{"bad demo user", map[string]string{"TOKENSERVER_DEMO_USER": "nocolon"}, "demo-user"},
		{"redis without database", map[string]string{"REDIS_URL": "redis://127.0.0.1:1"}, "DATABASE_URL"},
		{"database without kek", map[string]string{"DATABASE_URL": "postgres://127.0.0.1:1/x", "TOKENSERVER_DB_CONNECT_TIMEOUT": "200ms"}, "TOKENSERVER_KEK"},
		{"database unreachable", map[string]string{"DATABASE_URL": "postgres://127.0.0.1:1/x", "TOKENSERVER_KEK": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "TOKENSERVER_DB_CONNECT_TIMEOUT": "200ms"}, "DATABASE_URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{"TOKENSERVER_ADDR": freeAddr(t)}
			for k, v := range tt.env {
				env[k] = v
			}
			out, err := runCLI(t, env, "", "serve")
			if err == nil {
				t.Fatalf("serve started with bad config; output:\n%s", out)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not name %q", err, tt.want)
			}
		})
	}
}

func TestVersionAndUsage(t *testing.T) {
	if out := mustRunCLI(t, nil, "", "version"); !strings.HasPrefix(out, "tokenserver ") {
		t.Errorf("version printed %q", out)
	}
	if _, err := runCLI(t, nil, "", "frobnicate"); err == nil {
		t.Error("unknown command accepted")
	}
	if _, err := runCLI(t, nil, ""); err == nil {
		t.Error("no command accepted")
	}
}
