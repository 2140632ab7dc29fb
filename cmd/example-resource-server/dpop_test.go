package main

import (
	"bytes"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/tokenserver/tokenserver/dpop"
	"github.com/tokenserver/tokenserver/internal/dpoptest"
)

// TestServeDPoP: the example server accepts both schemes; behind a proxy
// (--external-url) proofs name the external URL; with
// --dpop-nonce-secret a proof needs the server's nonce, which the client
// gets from a use_dpop_nonce answer (RFC 9449 §9).
func TestServeDPoP(t *testing.T) {
	const external = "https://api.example.test"
	is := newIssuer(t)
	base := serve(t, []string{"--addr", "127.0.0.1:0", "--revocation", "none"}, map[string]string{
		"RESOURCE_ISSUER": is.url, "RESOURCE_AUDIENCE": audience,
		"RESOURCE_EXTERNAL_URL": external, "RESOURCE_DPOP_NONCE_SECRET": "a nonce secret of at least 32 bytes",
	})
	key := dpoptest.NewKey(t)
	bound := is.tokenWith(t, "jti-b", "read", map[string]any{"cnf": map[string]any{"jkt": dpoptest.JKT(t, key)}})
	call := func(auth, proof string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest("GET", base+"/hello", nil)
		req.Header.Set("Authorization", auth)
		if proof != "" {
			req.Header.Set(dpop.HeaderName, proof)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	proof := func(url, nonce string) string {
		return dpoptest.Proof(t, key, dpop.ProofClaims{Method: "GET", URL: url, AccessToken: bound, Nonce: nonce})
	}

	// Both schemes are offered.
	if code, _, _ := get(t, base+"/hello", ""); code != 401 {
		t.Fatalf("no token: %d", code)
	}
	resp := call("DPoP "+bound, proof(external+"/hello", ""))
	www := resp.Header.Values("WWW-Authenticate")
	nonce := resp.Header.Get(dpop.NonceHeader)
	if resp.StatusCode != 401 || len(www) != 1 || !strings.HasPrefix(www[0], `DPoP realm="`+audience+`", error="use_dpop_nonce"`) || nonce == "" {
		t.Fatalf("proof without a nonce: %d %q nonce %q", resp.StatusCode, www, nonce)
	}
	resp = call("DPoP "+bound, proof(external+"/hello", nonce))
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !bytes.Equal(body, []byte("hello alice\n")) || resp.Header.Get(dpop.NonceHeader) == "" {
		t.Fatalf("DPoP with the nonce: %d %q", resp.StatusCode, body)
	}
	// The URL as received is not the one clients use.
	resp = call("DPoP "+bound, proof(base+"/hello", nonce))
	if www := resp.Header.Get("WWW-Authenticate"); resp.StatusCode != 401 || !strings.Contains(www, `error="invalid_dpop_proof"`) {
		t.Fatalf("htu of the internal URL: %d %q", resp.StatusCode, www)
	}
	// A bound token is no bearer token (§7.2); a bearer token still works.
	resp = call("Bearer "+bound, "")
	if www := resp.Header.Values("WWW-Authenticate"); resp.StatusCode != 401 || len(www) != 2 ||
		!strings.Contains(www[0], `error="invalid_token"`) || !strings.HasPrefix(www[1], "DPoP ") {
		t.Fatalf("bound token as Bearer: %d %q", resp.StatusCode, www)
	}
	if code, _, body := get(t, base+"/hello", is.token(t, "jti-plain", "read")); code != 200 || body != "hello alice\n" {
		t.Fatalf("Bearer: %d %q", code, body)
	}
}

func TestDPoPOptions(t *testing.T) {
	base := map[string]string{"RESOURCE_ISSUER": "https://auth.example", "RESOURCE_AUDIENCE": audience}
	if _, err := parseOptions([]string{"--revocation", "none", "--dpop", "sometimes"}, func(k string) string { return base[k] }, io.Discard); err == nil ||
		!strings.Contains(err.Error(), "want allowed, required or off") {
		t.Fatalf("--dpop sometimes: %v", err)
	}
	for _, mode := range []string{"allowed", "required", "off"} {
		o, err := parseOptions([]string{"--revocation", "none", "--dpop", mode}, func(k string) string { return base[k] }, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := dpopConfig(o); err != nil {
			t.Fatal(err)
		}
	}
	o, err := parseOptions([]string{"--revocation", "none", "--dpop-nonce-secret", "short"}, func(k string) string { return base[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dpopConfig(o); err == nil || !strings.Contains(err.Error(), "--dpop-nonce-secret") {
		t.Fatalf("short nonce secret: %v", err)
	}
	if !slices.Contains([]string{"allowed"}, o.dpopMode) {
		t.Fatalf("default --dpop = %q", o.dpopMode)
	}
}
