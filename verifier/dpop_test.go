package verifier_test

import (
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/tokenserver/tokenserver/dpop"
	"github.com/tokenserver/tokenserver/internal/dpoptest"
	"github.com/tokenserver/tokenserver/store"
	"github.com/tokenserver/tokenserver/verifier"
)

const (
	// resourceURL is where the tests' requests go (TLS, so the default
	// request URL is https).
	resourceURL = "https://api.example.test/hello"
	allAlgs     = `algs="ES256 EdDSA PS256 RS256"`
)

// dpopHarness is a verifier for a test issuer with DPoP settings, its
// middleware requiring "read", and a client key.
type dpopHarness struct {
	t   *testing.T
	clk *clock
	k   *signingKey
	is  *testIssuer
	v   *verifier.Verifier
	h   http.Handler
	key *ecdsa.PrivateKey
}

func newDPoPHarness(t *testing.T, cfg verifier.DPoPConfig) *dpopHarness {
	return newDPoPHarnessAt(t, newClock(), cfg)
}

func newDPoPHarnessAt(t *testing.T, clk *clock, cfg verifier.DPoPConfig) *dpopHarness {
	t.Helper()
	d := &dpopHarness{t: t, clk: clk, k: newKey(t, "k", "ES256"), key: dpoptest.NewKey(t)}
	d.is = newIssuer(t, d.k)
	v, err := verifier.New(context.Background(), verifier.Config{
		Issuer: d.is.URL, Audience: testAudience, Now: d.clk.Now, Realm: "api", DPoP: cfg,
	})
	must(t, err)
	d.v = v
	d.h = verifier.Middleware(v, "read")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello %s", verifier.ClaimsFromContext(r.Context()).Username)
	}))
	return d
}

// token signs a token for the test audience with claims overridden by kv.
func (d *dpopHarness) token(kv ...any) string {
	d.t.Helper()
	c := d.is.claims(d.clk.Now())
	for i := 0; i < len(kv); i += 2 {
		c[kv[i].(string)] = kv[i+1]
	}
	return d.k.sign(d.t, c, nil)
}

// bound is a token bound to key.
func (d *dpopHarness) bound(key *ecdsa.PrivateKey, kv ...any) string {
	return d.token(append([]any{"cnf", map[string]any{"jkt": dpoptest.JKT(d.t, key)}}, kv...)...)
}

// proof is a valid proof by key for GET resourceURL with tok, changed by
// the options.
func (d *dpopHarness) proof(key *ecdsa.PrivateKey, tok string, opts ...func(*dpop.ProofClaims)) string {
	c := dpop.ProofClaims{Method: http.MethodGet, URL: resourceURL, AccessToken: tok, IssuedAt: d.clk.Now()}
	for _, o := range opts {
		o(&c)
	}
	return dpoptest.Proof(d.t, key, c)
}

// request is a GET of resourceURL with the given header values.
type request struct {
	auth   []string
	proofs []string
	url    string // resourceURL when ""
}

func (d *dpopHarness) do(r request) *httptest.ResponseRecorder {
	if r.url == "" {
		r.url = resourceURL
	}
	req := httptest.NewRequest(http.MethodGet, r.url, nil)
	for _, a := range r.auth {
		req.Header.Add("Authorization", a)
	}
	for _, p := range r.proofs {
		req.Header.Add(dpop.HeaderName, p)
	}
	rec := httptest.NewRecorder()
	d.h.ServeHTTP(rec, req)
	return rec
}

// answer is what a test expects of a response.
type want struct {
	status int
	www    []string // every WWW-Authenticate field, in order
	err    string   // the JSON error code ("" for none or a 200)
	nonce  bool     // a DPoP-Nonce header
}

func check(t *testing.T, rec *httptest.ResponseRecorder, w want) {
	t.Helper()
	if rec.Code != w.status {
		t.Fatalf("status = %d, want %d (body %q, WWW-Authenticate %q)", rec.Code, w.status, rec.Body, rec.Header().Values("WWW-Authenticate"))
	}
	if got := rec.Header().Values("WWW-Authenticate"); !slices.Equal(got, w.www) {
		t.Errorf("WWW-Authenticate = %q, want %q", got, w.www)
	}
	if got := rec.Header().Get(dpop.NonceHeader) != ""; got != w.nonce {
		t.Errorf("DPoP-Nonce present = %v, want %v", got, w.nonce)
	}
	if w.status == http.StatusOK {
		if rec.Body.String() != "hello alice" {
			t.Errorf("body = %q", rec.Body)
		}
		return
	}
	if got := rec.Header().Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", got)
	}
	if w.status == http.StatusServiceUnavailable && rec.Header().Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	if w.err == "" {
		if rec.Body.Len() != 0 {
			t.Errorf("body = %q, want empty", rec.Body)
		}
		return
	}
	var body struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.Error != w.err {
		t.Errorf("body %q: error = %q, want %q (%v)", rec.Body, body.Error, w.err, err)
	}
}

func dpopChallenge(code, desc string) string {
	return `DPoP realm="api", error="` + code + `", error_description="` + desc + `", ` + allAlgs
}

func bearerChallenge(code, desc string) string {
	return `Bearer realm="api", error="` + code + `", error_description="` + desc + `"`
}

const (
	bearerOffer = `Bearer realm="api"`
	dpopOffer   = `DPoP realm="api", ` + allAlgs
)

// TestDPoPMiddleware is the resource server's refusal table (RFC 9449
// §7.1, §7.2, RFC 6750 §3) with the default DPoPConfig: both schemes.
func TestDPoPMiddleware(t *testing.T) {
	d := newDPoPHarness(t, verifier.DPoPConfig{})
	other := dpoptest.NewKey(t)
	tok := d.bound(d.key)
	now := d.clk.Now()
	noJKT := d.token("cnf", map[string]any{"x5t#S256": "abc"})
	writeOnly := d.bound(d.key, "scope", "write")
	invalidProof := func(reason string) want {
		return want{401, []string{dpopChallenge("invalid_dpop_proof", "Invalid DPoP proof: "+reason)}, "invalid_dpop_proof", false}
	}
	tests := []struct {
		name string
		req  request
		// once: the request is sent once before, and accepted.
		once bool
		want want
	}{
		{"valid DPoP", request{auth: []string{"DPoP " + tok}, proofs: []string{d.proof(d.key, tok)}},
			false, want{200, nil, "", false}},
		{"scheme is case-insensitive", request{auth: []string{"dpop " + tok}, proofs: []string{d.proof(d.key, tok)}},
			false, want{200, nil, "", false}},
		{"valid Bearer", request{auth: []string{"Bearer " + d.token()}}, false, want{200, nil, "", false}},
		{"no Authorization: both schemes offered", request{}, false, want{401, []string{bearerOffer, dpopOffer}, "", false}},
		{"another scheme", request{auth: []string{"Basic dXNlcjpwYXNz"}}, false, want{401, []string{bearerOffer, dpopOffer}, "", false}},
		{"malformed DPoP credentials", request{auth: []string{"DPoP a b"}, proofs: []string{d.proof(d.key, tok)}},
			false, want{400, []string{dpopChallenge("invalid_request", "The Authorization header is malformed")}, "invalid_request", false}},
		{"no proof", request{auth: []string{"DPoP " + tok}}, false, invalidProof("no DPoP header")},
		{"two proofs", request{auth: []string{"DPoP " + tok}, proofs: []string{d.proof(d.key, tok), d.proof(d.key, tok)}},
			false, invalidProof("more than one DPoP header")},
		{"missing ath", request{auth: []string{"DPoP " + tok}, proofs: []string{d.proof(d.key, "")}},
			false, invalidProof("no ath with an access token")},
		{"wrong ath", request{auth: []string{"DPoP " + tok}, proofs: []string{d.proof(d.key, d.bound(d.key))}},
			false, invalidProof("ath does not match the access token")},
		{"proof by another key than cnf.jkt", request{auth: []string{"DPoP " + tok}, proofs: []string{d.proof(other, tok)}},
			false, want{401, []string{dpopChallenge("invalid_token", "Invalid DPoP key binding")}, "invalid_token", false}},
		{"wrong htm", request{auth: []string{"DPoP " + tok}, proofs: []string{d.proof(d.key, tok, func(c *dpop.ProofClaims) { c.Method = "POST" })}},
			false, invalidProof("htm ?POST? does not match the request method")},
		{"wrong htu", request{auth: []string{"DPoP " + tok}, proofs: []string{d.proof(d.key, tok, func(c *dpop.ProofClaims) { c.URL = "https://api.example.test/other" })}},
			false, invalidProof("htu ?https://api.example.test/other? does not match the request URL")},
		{"htu of the token endpoint", request{auth: []string{"DPoP " + tok}, proofs: []string{d.proof(d.key, tok, func(c *dpop.ProofClaims) { c.URL = d.is.URL + "/token" })}},
			false, invalidProof("htu ?" + d.is.URL + "/token? does not match the request URL")},
		{"old iat", request{auth: []string{"DPoP " + tok}, proofs: []string{d.proof(d.key, tok, func(c *dpop.ProofClaims) { c.IssuedAt = now.Add(-2 * time.Minute) })}},
			false, invalidProof("issued at " + now.Add(-2*time.Minute).UTC().Format(time.RFC3339) + ", older than 1m0s")},
		{"replayed jti", request{auth: []string{"DPoP " + tok}, proofs: []string{d.proof(d.key, tok)}},
			true, invalidProof("replayed")},
		{"alg none", request{auth: []string{"DPoP " + tok}, proofs: []string{dpoptest.Forge(t, map[string]any{"typ": "dpop+jwt", "alg": "none", "jwk": dpoptest.PublicJWK(t, d.key)},
			withATH(dpoptest.Claims("GET", resourceURL, now), tok), "none", nil)}},
			false, invalidProof("alg ?none? not accepted")},
		{"HS256", request{auth: []string{"DPoP " + tok}, proofs: []string{dpoptest.Forge(t, map[string]any{"typ": "dpop+jwt", "alg": "HS256", "jwk": dpoptest.PublicJWK(t, d.key)},
			withATH(dpoptest.Claims("GET", resourceURL, now), tok), "HS256", []byte("secret"))}},
			false, invalidProof("alg ?HS256? not accepted")},
		{"bound token as Bearer", request{auth: []string{"Bearer " + tok}}, false,
			want{401, []string{bearerChallenge("invalid_token", "The access token is DPoP-bound: send it with the DPoP scheme and a DPoP proof"), dpopOffer}, "invalid_token", false}},
		{"bound token as Bearer with a proof", request{auth: []string{"Bearer " + tok}, proofs: []string{d.proof(d.key, tok)}}, false,
			want{401, []string{bearerChallenge("invalid_token", "The access token is DPoP-bound: send it with the DPoP scheme and a DPoP proof"), dpopOffer}, "invalid_token", false}},
		{"unbound token with the DPoP scheme", request{auth: []string{"DPoP " + d.token()}, proofs: []string{d.proof(d.key, d.token())}}, false,
			want{401, []string{dpopChallenge("invalid_token", "The access token is not DPoP-bound: send it with the Bearer scheme")}, "invalid_token", false}},
		{"cnf without jkt", request{auth: []string{"DPoP " + noJKT}, proofs: []string{d.proof(d.key, noJKT)}}, false,
			want{401, []string{dpopChallenge("invalid_token", "The access token is invalid")}, "invalid_token", false}},
		{"expired bound token", request{auth: []string{"DPoP " + d.bound(d.key, "exp", now.Add(-time.Minute).Unix())}, proofs: []string{d.proof(d.key, "x")}}, false,
			want{401, []string{dpopChallenge("invalid_token", "The access token expired")}, "invalid_token", false}},
		{"missing scope", request{auth: []string{"DPoP " + writeOnly}, proofs: []string{d.proof(d.key, writeOnly)}}, false,
			want{403, []string{`DPoP realm="api", error="insufficient_scope", error_description="The access token lacks a required scope", scope="read", ` + allAlgs}, "insufficient_scope", false}},
	}

	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.once {
				check(t, d.do(tc.req), want{200, nil, "", false})
			}
			check(t, d.do(tc.req), tc.want)
		})
	}
}

// withATH adds ath for tok to forged claims.
func withATH(c map[string]any, tok string) map[string]any {
	c["ath"] = dpop.AccessTokenHash(tok)
	return c
}

// TestDPoPNonce: with DPoPConfig.Nonces, a proof without the server's
// nonce, or with a stale one, is answered use_dpop_nonce with a DPoP-Nonce
// (RFC 9449 §9), and the retry with that nonce is accepted.
func TestDPoPNonce(t *testing.T) {
	useNonce := want{401, []string{dpopChallenge("use_dpop_nonce", "Resource server requires nonce in DPoP proof")}, "use_dpop_nonce", true}
	tests := []struct {
		name  string
		nonce func(d *dpopHarness, nonces *dpop.Nonces) string
	}{
		{"absent", func(*dpopHarness, *dpop.Nonces) string { return "" }},
		{"stale", func(d *dpopHarness, nonces *dpop.Nonces) string {
			n, err := nonces.Issue()
			must(t, err)
			d.clk.Advance(2 * time.Minute) // two windows on: no longer current or previous
			return n
		}},
		{"forged", func(*dpopHarness, *dpop.Nonces) string { return "not-a-nonce" }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := newClock()
			nonces, err := dpop.NewNonces([]byte("0123456789abcdef0123456789abcdef"), time.Minute, clk.Now)
			must(t, err)
			d := newDPoPHarnessAt(t, clk, verifier.DPoPConfig{Nonces: nonces})
			tok := d.bound(d.key)
			n := tc.nonce(d, nonces)
			rec := d.do(request{auth: []string{"DPoP " + tok}, proofs: []string{d.proof(d.key, tok, func(c *dpop.ProofClaims) { c.Nonce = n })}})
			check(t, rec, useNonce)
			// The retry with the nonce given is accepted, and the answer
			// carries the next nonce.
			fresh := rec.Header().Get(dpop.NonceHeader)
			tok = d.bound(d.key)
			check(t, d.do(request{auth: []string{"DPoP " + tok}, proofs: []string{d.proof(d.key, tok, func(c *dpop.ProofClaims) { c.Nonce = fresh })}}),
				want{200, nil, "", true})
		})
	}
}

// TestDPoPModes: DPoPRequired refuses the Bearer scheme and offers only
// DPoP; DPoPDisabled offers only Bearer and still refuses bound tokens.
func TestDPoPModes(t *testing.T) {
	req := verifier.DPoPConfig{Mode: verifier.DPoPRequired}
	dis := verifier.DPoPConfig{Mode: verifier.DPoPDisabled}
	boundAsBearer := bearerChallenge("invalid_token", "The access token is DPoP-bound: send it with the DPoP scheme and a DPoP proof")
	tests := []struct {
		name string
		cfg  verifier.DPoPConfig
		req  func(d *dpopHarness) request
		want want
	}{
		{"required: no credentials", req, func(*dpopHarness) request { return request{} }, want{401, []string{dpopOffer}, "", false}},
		{"required: Bearer token", req, func(d *dpopHarness) request { return request{auth: []string{"Bearer " + d.token()}} },
			want{401, []string{dpopOffer}, "", false}},
		{"required: DPoP", req, func(d *dpopHarness) request {
			tok := d.bound(d.key)
			return request{auth: []string{"DPoP " + tok}, proofs: []string{d.proof(d.key, tok)}}
		}, want{200, nil, "", false}},
		{"disabled: no credentials", dis, func(*dpopHarness) request { return request{} }, want{401, []string{bearerOffer}, "", false}},
		{"disabled: DPoP scheme", dis, func(d *dpopHarness) request {
			tok := d.bound(d.key)
			return request{auth: []string{"DPoP " + tok}, proofs: []string{d.proof(d.key, tok)}}
		}, want{401, []string{bearerOffer}, "", false}},
		{"disabled: bound token as Bearer", dis, func(d *dpopHarness) request { return request{auth: []string{"Bearer " + d.bound(d.key)}} },
			want{401, []string{boundAsBearer}, "invalid_token", false}},
		{"disabled: Bearer", dis, func(d *dpopHarness) request { return request{auth: []string{"Bearer " + d.token()}} }, want{200, nil, "", false}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := newDPoPHarness(t, tc.cfg)
			check(t, d.do(tc.req(d)), tc.want)
		})
	}
}

// TestDPoPRequestURL: htu is compared with the URL the client used; behind
// a proxy that is ExternalURL + path or what RequestURL says, not the
// request as received.
func TestDPoPRequestURL(t *testing.T) {
	const external = "https://api.example.com/v1"
	received := "http://10.0.0.7:8080/hello" // what the proxy forwards
	tests := []struct {
		name string
		cfg  verifier.DPoPConfig
		htu  string
		ok   bool
	}{
		{"default: the request's own URL", verifier.DPoPConfig{}, received, true},
		{"default: not the external one", verifier.DPoPConfig{}, external + "/hello", false},
		{"ExternalURL", verifier.DPoPConfig{ExternalURL: external}, external + "/hello", true},
		{"ExternalURL with a slash", verifier.DPoPConfig{ExternalURL: external + "/"}, external + "/hello", true},
		{"ExternalURL: not the received one", verifier.DPoPConfig{ExternalURL: external}, received, false},
		{"RequestURL", verifier.DPoPConfig{RequestURL: func(r *http.Request) string { return "https://rewritten.example/x" + r.URL.Path }},
			"https://rewritten.example/x/hello", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := newDPoPHarness(t, tc.cfg)
			tok := d.bound(d.key)
			rec := d.do(request{url: received, auth: []string{"DPoP " + tok},
				proofs: []string{d.proof(d.key, tok, func(c *dpop.ProofClaims) { c.URL = tc.htu })}})
			if tc.ok {
				check(t, rec, want{200, nil, "", false})
				return
			}
			check(t, rec, want{401, []string{dpopChallenge("invalid_dpop_proof", "Invalid DPoP proof: htu ?"+tc.htu+"? does not match the request URL")}, "invalid_dpop_proof", false})
		})
	}
}

// TestDPoPConfigErrors: bad settings stop New.
func TestDPoPConfigErrors(t *testing.T) {
	is := newIssuer(t, newKey(t, "k", "ES256"))
	for name, cfg := range map[string]verifier.DPoPConfig{
		"both URLs":           {ExternalURL: "https://a.example", RequestURL: func(*http.Request) string { return "" }},
		"relative URL":        {ExternalURL: "/api"},
		"unknown mode":        {Mode: 7},
		"negative MaxAge":     {MaxAge: -time.Second},
		"unknown algorithm":   {Algorithms: []string{"HS256"}},
		"no algorithm at all": {Algorithms: []string{}},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := verifier.New(context.Background(), verifier.Config{Issuer: is.URL, Audience: testAudience, DPoP: cfg}); err == nil {
				t.Fatal("New accepted the config")
			}
		})
	}
}

// failingReplay is a replay cache that cannot be reached.
type failingReplay struct{}

func (failingReplay) Seen(context.Context, string, time.Time) (bool, error) {
	return false, fmt.Errorf("replay stub: %w", store.ErrUnavailable)
}

// TestDPoPReplayCacheDown: a failing replay cache refuses the request with
// 503 (never accepts a proof that could be a replay).
func TestDPoPReplayCacheDown(t *testing.T) {
	d := newDPoPHarness(t, verifier.DPoPConfig{Replay: failingReplay{}})
	tok := d.bound(d.key)
	check(t, d.do(request{auth: []string{"DPoP " + tok}, proofs: []string{d.proof(d.key, tok)}}),
		want{503, nil, "temporarily_unavailable", false})
	_, err := d.v.VerifyDPoP(context.Background(), tok, d.proof(d.key, tok), http.MethodGet, resourceURL)
	if !errors.Is(err, verifier.ErrReplayCheckUnavailable) || !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("VerifyDPoP error = %v, want ErrReplayCheckUnavailable wrapping store.ErrUnavailable", err)
	}
}

// TestVerifyRefusesBoundTokens: Verify is the bearer path; a bound token
// needs VerifyDPoP (RFC 9449 §7.2).
func TestVerifyRefusesBoundTokens(t *testing.T) {
	d := newDPoPHarness(t, verifier.DPoPConfig{})
	tok := d.bound(d.key)
	if _, err := d.v.Verify(context.Background(), tok); !errors.Is(err, verifier.ErrDPoPBound) || !errors.Is(err, verifier.ErrInvalidToken) {
		t.Fatalf("Verify of a bound token: %v, want ErrDPoPBound", err)
	}
	c, err := d.v.VerifyDPoP(context.Background(), tok, d.proof(d.key, tok), http.MethodGet, resourceURL)
	if err != nil {
		t.Fatal(err)
	}
	if c.JKT != dpoptest.JKT(t, d.key) || c.Username != "alice" {
		t.Fatalf("claims = %+v", c)
	}
	for name, tc := range map[string]struct {
		tok, proof string
		want       error
	}{
		"another key":    {tok, d.proof(dpoptest.NewKey(t), tok), verifier.ErrDPoPKeyMismatch},
		"unbound token":  {d.token(), d.proof(d.key, d.token()), verifier.ErrNotDPoPBound},
		"replayed proof": {tok, d.proof(d.key, tok, func(c *dpop.ProofClaims) { c.ID = "once" }), dpop.ErrReplayed},
	} {
		t.Run(name, func(t *testing.T) {
			if name == "replayed proof" {
				if _, err := d.v.VerifyDPoP(context.Background(), tc.tok, tc.proof, http.MethodGet, resourceURL); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := d.v.VerifyDPoP(context.Background(), tc.tok, tc.proof, http.MethodGet, resourceURL); !errors.Is(err, tc.want) {
				t.Fatalf("VerifyDPoP: %v, want %v", err, tc.want)
			}
		})
	}
}
