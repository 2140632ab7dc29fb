package main

import (
	"crypto/ecdsa"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/tokenserver/tokenserver/dpop"
	"github.com/tokenserver/tokenserver/internal/dpoptest"
)

// dpopPost POSTs a token request with an optional DPoP proof and returns
// the status, the decoded JSON body and the DPoP-Nonce header.
func dpopPost(t *testing.T, baseURL string, form url.Values, proof string) (int, map[string]any, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, baseURL+"/token", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if proof != "" {
		req.Header.Set(dpop.HeaderName, proof)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("token response body: %v", err)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", cc)
	}
	return resp.StatusCode, body, resp.Header.Get(dpop.NonceHeader)
}

// TestDPoPStolenRefreshToken: on the production path (PostgreSQL, Redis,
// two instances behind one issuer URL, nonces on) a public client that
// requires DPoP logs in with a proof; its refresh token, stolen, is
// useless without the private key, while the owner keeps refreshing. A
// proof replayed to the other instance is refused (Redis replay cache),
// and a nonce from one instance is good at the other (shared KEK).
func TestDPoPStolenRefreshToken(t *testing.T) {
	env := productionEnv(t)
	mustRunCLI(t, env, "", "migrate")
	mustRunCLI(t, env, "", "client", "add", "--public", "--require-dpop", "--scopes", "read", "mobile")
	mustRunCLI(t, env, "correct horse battery staple\n", "user", "add", "alice")
	if out := mustRunCLI(t, env, "", "client", "list", "--json"); !strings.Contains(out, `"require_dpop": true`) {
		t.Fatalf("client list --json does not show require_dpop:\n%s", out)
	}

	addr := freeAddr(t)
	issuer := "http://" + addr
	env["TOKENSERVER_DPOP_NONCE"] = "true"
	env["TOKENSERVER_ISSUER"] = issuer
	env["TOKENSERVER_ADDR"] = addr
	s1 := startServer(t, env)
	env2 := map[string]string{}
	for k, v := range env {
		env2[k] = v
	}
	env2["TOKENSERVER_ADDR"] = freeAddr(t)
	s2 := startServer(t, env2)

	owner, thief := dpoptest.NewKey(t), dpoptest.NewKey(t)
	proof := func(key *ecdsa.PrivateKey, nonce string) string {
		return dpoptest.Proof(t, key, dpop.ProofClaims{Method: http.MethodPost, URL: issuer + "/token", Nonce: nonce})
	}
	login := url.Values{"grant_type": {"password"}, "client_id": {"mobile"},
		"username": {"alice"}, "password": {"correct horse battery staple"}}

	// The client requires DPoP.
	status, body, nonce := dpopPost(t, s1.URL, login, "")
	if status != http.StatusBadRequest || body["error"] != "invalid_dpop_proof" {
		t.Fatalf("login without proof: %d %v", status, body)
	}
	// Nonces are on: the first proof learns one.
	status, body, nonce = dpopPost(t, s1.URL, login, proof(owner, ""))
	if status != http.StatusBadRequest || body["error"] != "use_dpop_nonce" || nonce == "" {
		t.Fatalf("login without nonce: %d %v, DPoP-Nonce %q", status, body, nonce)
	}
	// s1's nonce is good at s2.
	status, body, nonce = dpopPost(t, s2.URL, login, proof(owner, nonce))
	if status != http.StatusOK || body["token_type"] != "DPoP" {
		t.Fatalf("login with proof: %d %v", status, body)
	}
	rt := body["refresh_token"].(string)
	claims := verifyWithJWKS(t, s1.URL, body["access_token"].(string))
	if cnf, _ := claims["cnf"].(map[string]any); cnf["jkt"] != dpoptest.JKT(t, owner) {
		t.Fatalf("cnf = %v, want the owner's thumbprint", claims["cnf"])
	}

	refresh := url.Values{"grant_type": {"refresh_token"}, "client_id": {"mobile"}, "refresh_token": {rt}}
	// The thief has the refresh token but not the key.
	status, body, _ = dpopPost(t, s1.URL, refresh, "")
	if status != http.StatusBadRequest || body["error"] != "invalid_dpop_proof" {
		t.Fatalf("stolen refresh without proof: %d %v", status, body)
	}
	status, body, nonce = dpopPost(t, s1.URL, refresh, proof(thief, nonce))
	if status != http.StatusBadRequest || body["error"] != "invalid_grant" {
		t.Fatalf("stolen refresh with the thief's key: %d %v", status, body)
	}
	// The owner still refreshes: the thief's attempts changed nothing (no
	// reuse revocation).
	ownerProof := proof(owner, nonce)
	status, body, _ = dpopPost(t, s1.URL, refresh, ownerProof)
	if status != http.StatusOK || body["token_type"] != "DPoP" {
		t.Fatalf("owner refresh after the theft attempts: %d %v", status, body)
	}
	// A captured proof replayed to the other instance is refused.
	refresh.Set("refresh_token", body["refresh_token"].(string))
	status, body, _ = dpopPost(t, s2.URL, refresh, ownerProof)
	if status != http.StatusBadRequest || body["error"] != "invalid_dpop_proof" {
		t.Fatalf("replayed proof at the other instance: %d %v", status, body)
	}
}
