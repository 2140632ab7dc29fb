package main

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/tokenserver/tokenserver/verifier"
)

// TestClientCredentialsEndToEnd: a client registered with the CLI for
// client_credentials gets a token from a server on PostgreSQL and Redis
// through x/oauth2/clientcredentials (a black-box client), the verifier
// package accepts it (sub = client id, no session, no username), and after
// /revoke the verifier, asking /introspect, refuses it.
func TestClientCredentialsEndToEnd(t *testing.T) {
	env := productionEnv(t)
	mustRunCLI(t, env, "", "migrate")
	svcSecret := addClient(t, env,
		"--grants", "client_credentials", "--scopes", "read,write", "--audience", "https://api.example.com", "svc")
	appSecret := addClient(t, env, "--scopes", "read", "app")

	env["TOKENSERVER_ADDR"] = freeAddr(t)
	s := startServer(t, env)
	ctx := context.Background()
	cc := func(id, secret string, scopes ...string) *clientcredentials.Config {
		return &clientcredentials.Config{ClientID: id, ClientSecret: secret, TokenURL: s.URL + "/token",
			Scopes: scopes, AuthStyle: oauth2.AuthStyleInHeader}
	}

	tok, err := cc("svc", svcSecret, "read").Token(ctx)
	if err != nil {
		t.Fatalf("client_credentials grant: %v", err)
	}
	if tok.RefreshToken != "" || tok.TokenType != "Bearer" || tok.Extra("scope") != "read" {
		t.Errorf("token: refresh %q, type %q, scope %v", tok.RefreshToken, tok.TokenType, tok.Extra("scope"))
	}
	full, err := cc("svc", svcSecret).Token(ctx) // no scope: the registered ones
	if err != nil || full.Extra("scope") != "read write" {
		t.Errorf("without scope: %v, scope %v", err, full.Extra("scope"))
	}

	checker, err := verifier.NewIntrospection(verifier.IntrospectionConfig{
		Endpoint: s.URL + "/introspect", ClientID: "app", ClientSecret: appSecret, CacheTTL: -1})
	if err != nil {
		t.Fatal(err)
	}
	v, err := verifier.New(ctx, verifier.Config{Issuer: s.URL, Audience: "https://api.example.com", Revocation: checker})
	if err != nil {
		t.Fatal(err)
	}
	c, err := v.Verify(ctx, tok.AccessToken)
	if err != nil {
		t.Fatalf("verifier refused the token: %v", err)
	}
	if c.Subject != "svc" || c.ClientID != "svc" || c.Scope != "read" || c.SID != "" || c.Username != "" {
		t.Errorf("claims: sub %q client_id %q scope %q sid %q username %q", c.Subject, c.ClientID, c.Scope, c.SID, c.Username)
	}

	refusals := []struct {
		name       string
		cfg        *clientcredentials.Config
		wantStatus int
		wantCode   string
	}{
		{"wrong secret", cc("svc", "wrong-secret"), http.StatusUnauthorized, "invalid_client"},
		{"scope beyond the registration", cc("svc", svcSecret, "admin"), http.StatusBadRequest, "invalid_scope"},
		{"client not registered for the grant", cc("app", appSecret), http.StatusBadRequest, "unauthorized_client"},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.cfg.Token(ctx)
			var re *oauth2.RetrieveError
			if !errors.As(err, &re) {
				t.Fatalf("got %v, want a RetrieveError", err)
			}
			if re.Response.StatusCode != tt.wantStatus || re.ErrorCode != tt.wantCode {
				t.Errorf("status %d error %q, want %d %q", re.Response.StatusCode, re.ErrorCode, tt.wantStatus, tt.wantCode)
			}
			if tt.wantStatus == http.StatusUnauthorized && re.Response.Header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
			if got := re.Response.Header.Get("Cache-Control"); got != "no-store" {
				t.Errorf("Cache-Control %q", got)
			}
		})
	}

	// Revoked by its client at /revoke (RFC 7009), by jti.
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/revoke", strings.NewReader("token="+url.QueryEscape(tok.AccessToken)))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("svc", svcSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/revoke: %d", resp.StatusCode)
	}
	if introspectActive(t, s, "app", appSecret, tok.AccessToken) {
		t.Error("revoked token still active at /introspect")
	}
	if _, err := v.Verify(ctx, tok.AccessToken); !errors.Is(err, verifier.ErrRevoked) {
		t.Errorf("verifier after /revoke: %v, want ErrRevoked", err)
	}
	if !introspectActive(t, s, "app", appSecret, full.AccessToken) {
		t.Error("revoking one token revoked the client's other token")
	}
}

// TestClientAddClientCredentialsErrors: `client add` refuses what the
// server would refuse for client_credentials, and stores nothing.
func TestClientAddClientCredentialsErrors(t *testing.T) {
	env := productionEnv(t)
	mustRunCLI(t, env, "", "migrate")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"public client", []string{"client", "add", "--public", "--grants", "client_credentials", "pub"}, "confidential"},
		{"user-id-shaped id", []string{"client", "add", "--generate-secret", "--grants", "client_credentials",
			"0f8fad5b-d9cb-469f-a165-70867728950e"}, "form of a user id"},
		{"unknown grant", []string{"client", "add", "--generate-secret", "--grants", "client_credentials,implicit", "svc"}, "unsupported grant type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := runCLI(t, env, "", tt.args...)
			if err == nil {
				t.Fatalf("succeeded; output:\n%s", out)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q, want it to contain %q", err, tt.want)
			}
		})
	}
	if list := mustRunCLI(t, env, "", "client", "list"); strings.Count(list, "\n") != 1 {
		t.Errorf("client list after refused adds:\n%s", list)
	}
	// A UUID-shaped id is fine for the other grants (their sub is a user's).
	mustRunCLI(t, env, "", "client", "add", "--generate-secret", "0f8fad5b-d9cb-469f-a165-70867728950e")
}
