package verifier_test

import (
	"context"
	"crypto/ecdsa"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/tokenserver/tokenserver/dpop"
	"github.com/tokenserver/tokenserver/internal/dpoptest"
	"github.com/tokenserver/tokenserver/internal/issuertest"
	"github.com/tokenserver/tokenserver/verifier"
)

// TestStolenDPoPAccessToken is end to end: a real token server issues a
// DPoP-bound access token to a client holding a key, a verifier-backed
// resource server on a real listener accepts it with the client's proofs,
// and a thief holding the token (and even proofs he captured) but not the
// key gets nowhere (RFC 9449 §7, §11.1).
func TestStolenDPoPAccessToken(t *testing.T) {
	is, err := issuertest.Start(issuertest.Config{
		Clients: []issuertest.Client{{ID: "mobile", Scopes: []string{"read"}, Audience: []string{testAudience}}},
		Users:   []issuertest.User{{Name: "alice", Password: "alice-password"}},
	})
	must(t, err)
	t.Cleanup(is.Close)
	v, err := verifier.New(context.Background(), verifier.Config{Issuer: is.URL, Audience: testAudience, Realm: "api"})
	must(t, err)
	rs := httptest.NewServer(verifier.Middleware(v, "read")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello %s", verifier.ClaimsFromContext(r.Context()).Username)
	})))
	t.Cleanup(rs.Close)
	hello := rs.URL + "/hello"

	key := dpoptest.NewKey(t)
	access, _, err := is.LoginDPoP("mobile", "alice", "read", key)
	must(t, err)
	call := func(method, url, auth, proof string) (int, []string) {
		t.Helper()
		req, err := http.NewRequest(method, url, nil)
		must(t, err)
		req.Header.Set("Authorization", auth)
		if proof != "" {
			req.Header.Set(dpop.HeaderName, proof)
		}
		resp, err := rs.Client().Do(req)
		must(t, err)
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Values("WWW-Authenticate")
	}
	proofBy := func(k *ecdsa.PrivateKey, method, url string) string {
		return dpoptest.Proof(t, k, dpop.ProofClaims{Method: method, URL: url, AccessToken: access})
	}

	// The client: its token with its proofs.
	captured := proofBy(key, "GET", hello)
	if code, www := call("GET", hello, "DPoP "+access, captured); code != 200 {
		t.Fatalf("the key holder: %d %q", code, www)
	}
	otherURL := proofBy(key, "GET", rs.URL+"/other") // captured on its way elsewhere

	thief := dpoptest.NewKey(t)
	tests := []struct {
		name          string
		auth, proof   string
		code          string
		wwwStartsWith string
	}{
		{"as a bearer token", "Bearer " + access, "", "invalid_token", "Bearer "},
		{"with the DPoP scheme, no proof", "DPoP " + access, "", "invalid_dpop_proof", "DPoP "},
		{"with a proof by the thief's key", "DPoP " + access, proofBy(thief, "GET", hello), "invalid_token", "DPoP "},
		{"with the client's captured proof, replayed", "DPoP " + access, captured, "invalid_dpop_proof", "DPoP "},
		{"with a proof captured for another URL", "DPoP " + access, otherURL, "invalid_dpop_proof", "DPoP "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, www := call("GET", hello, tc.auth, tc.proof)
			if code != 401 || len(www) == 0 || !strings.HasPrefix(www[0], tc.wwwStartsWith) ||
				!strings.Contains(www[0], `error="`+tc.code+`"`) {
				t.Fatalf("got %d %q, want 401 with a %serror=%q challenge", code, www, tc.wwwStartsWith, tc.code)
			}
			if tc.wwwStartsWith == "DPoP " && !slices.ContainsFunc(www, func(s string) bool { return strings.Contains(s, "algs=") }) {
				t.Fatalf("DPoP challenge without algs: %q", www)
			}
		})
	}
	// The key holder is unaffected by the attempts.
	if code, www := call("GET", hello, "DPoP "+access, proofBy(key, "GET", hello)); code != 200 {
		t.Fatalf("the key holder afterwards: %d %q", code, www)
	}
}
