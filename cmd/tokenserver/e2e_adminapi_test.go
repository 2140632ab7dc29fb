package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"testing"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/tokenserver/tokenserver/verifier"
)

// TestAdminAPIEndToEnd, as an application would, on PostgreSQL and Redis:
// an admin client gets a token by client_credentials, signs a user up
// through the admin API, the user logs in with the password grant, the
// application lists the user's sessions and logs them out everywhere, and
// the revoked access token is rejected by a verifier (and the refresh
// token by the token endpoint).
func TestAdminAPIEndToEnd(t *testing.T) {
	env := productionEnv(t)
	mustRunCLI(t, env, "", "migrate")
	opsSecret := addClient(t, env,
		"--grants", "client_credentials", "--scopes", "admin:users", "ops")
	appSecret := addClient(t, env, "--scopes", "read", "--token-roles", "app")
	env["TOKENSERVER_ADDR"] = freeAddr(t)
	s := startServer(t, env)
	ctx := context.Background()

	// Unauthenticated: the API exists and refuses with an RFC 6750 challenge.
	resp, err := http.Get(s.URL + "/admin/v1/users")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") == "" ||
		resp.Header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("no token: %d %v", resp.StatusCode, resp.Header)
	}

	admin := (&clientcredentials.Config{ClientID: "ops", ClientSecret: opsSecret, TokenURL: s.URL + "/token",
		Scopes: []string{"admin:users"}, AuthStyle: oauth2.AuthStyleInHeader}).Client(ctx)
	call := func(method, path string, in, out any) int {
		t.Helper()
		var body io.Reader
		if in != nil {
			b, _ := json.Marshal(in)
			body = bytes.NewReader(b)
		}
		req, _ := http.NewRequest(method, s.URL+path, body)
		if in != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := admin.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		if out != nil && json.Unmarshal(raw, out) != nil {
			t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, raw)
		}
		return resp.StatusCode
	}

	var user struct {
		ID string `json:"id"`
	}
	if st := call("POST", "/admin/v1/users", map[string]any{"username": "Erin", "password": "erin's long password",
		"email": "erin@example.com", "roles": []string{"reader"}}, &user); st != http.StatusCreated {
		t.Fatalf("sign-up: %d", st)
	}
	var problem struct {
		Type string `json:"type"`
	}
	if st := call("POST", "/admin/v1/users", map[string]any{"username": "erin", "password": "another long password"}, &problem); st != http.StatusConflict ||
		problem.Type != "https://tokenserver.dev/problems/exists" {
		t.Fatalf("second sign-up: %d %s", st, problem.Type)
	}

	app := s.oauth2Config("app", appSecret, "read")
	tok, err := app.PasswordCredentialsToken(ctx, "erin", "erin's long password")
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	checker, err := verifier.NewIntrospection(verifier.IntrospectionConfig{
		Endpoint: s.URL + "/introspect", ClientID: "app", ClientSecret: appSecret, CacheTTL: -1})
	if err != nil {
		t.Fatal(err)
	}
	v, err := verifier.New(ctx, verifier.Config{Issuer: s.URL, Audience: s.URL, Revocation: checker})
	if err != nil {
		t.Fatal(err)
	}
	if c, err := v.Verify(ctx, tok.AccessToken); err != nil || c.Subject != user.ID {
		t.Fatalf("verifier before logout: %v", err)
	}
	// The user sees their roles in the access token (RFC 9068 §7.2.1.1).
	if claims := verifyWithJWKS(t, s.URL, tok.AccessToken); fmt.Sprint(claims["roles"]) != "[reader]" {
		t.Errorf("roles claim %v, want [reader]", claims["roles"])
	}

	var sessions struct {
		Sessions []struct {
			ID       string `json:"id"`
			ClientID string `json:"client_id"`
		} `json:"sessions"`
	}
	call("GET", "/admin/v1/users/"+user.ID+"/sessions", nil, &sessions)
	if len(sessions.Sessions) != 1 || sessions.Sessions[0].ClientID != "app" {
		t.Fatalf("sessions: %+v", sessions)
	}
	var revoked struct {
		N int `json:"revoked_sessions"`
	}
	if st := call("DELETE", "/admin/v1/users/"+user.ID+"/sessions", nil, &revoked); st != http.StatusOK || revoked.N != 1 {
		t.Fatalf("log out everywhere: %d %+v", st, revoked)
	}

	if _, err := v.Verify(ctx, tok.AccessToken); !errors.Is(err, verifier.ErrRevoked) {
		t.Fatalf("verifier after logout: %v, want ErrRevoked", err)
	}
	if _, err := refresh(ctx, app, tok.RefreshToken); retrieveErrorCode(err) != "invalid_grant" {
		t.Fatalf("refresh after logout: %v", err)
	}
	call("GET", "/admin/v1/users/"+user.ID+"/sessions", nil, &sessions)
	if len(sessions.Sessions) != 0 {
		t.Fatalf("sessions after logout: %+v", sessions)
	}
}
