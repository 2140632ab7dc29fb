package tokenserver

import (
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/tokenserver/tokenserver/dpop"
	"github.com/tokenserver/tokenserver/internal/dpoptest"
	"github.com/tokenserver/tokenserver/store"
)

const tokenURL = testIssuer + "/token"

// withDPoP sends proof in the DPoP header.
func withDPoP(proof string) reqOption { return withHeader(dpop.HeaderName, proof) }

// proofFor makes a valid proof for POST /token at the harness clock.
func (h *harness) proofFor(key *ecdsa.PrivateKey, nonce string) string {
	h.t.Helper()
	return dpoptest.Proof(h.t, key, dpop.ProofClaims{Method: http.MethodPost, URL: tokenURL,
		IssuedAt: h.clock.Now(), Nonce: nonce})
}

// cliLogin runs the password grant for the public client cli.
func (h *harness) cliLogin(opts ...reqOption) *httptest.ResponseRecorder {
	h.t.Helper()
	return h.token(formBody("grant_type", "password", "client_id", cliID,
		"username", aliceName, "password", alicePassword), opts...)
}

func (h *harness) cliRefresh(rt string, opts ...reqOption) *httptest.ResponseRecorder {
	h.t.Helper()
	return h.token(formBody("grant_type", "refresh_token", "client_id", cliID, "refresh_token", rt), opts...)
}

// assertBound checks a DPoP token response: token_type DPoP and cnf.jkt.
func (h *harness) assertBound(tj tokenJSON, key *ecdsa.PrivateKey) {
	h.t.Helper()
	if tj.TokenType != "DPoP" {
		h.t.Errorf("token_type = %q, want DPoP", tj.TokenType)
	}
	cnf, _ := h.claims(tj.AccessToken)["cnf"].(map[string]any)
	if got, want := cnf["jkt"], dpoptest.JKT(h.t, key); got != want {
		h.t.Errorf("cnf.jkt = %v, want %s", got, want)
	}
}

func TestDPoPPasswordAndRefreshBound(t *testing.T) {
	h := newHarness(t)
	key := dpoptest.NewKey(t)
	tj := h.mustToken(h.cliLogin(withDPoP(h.proofFor(key, ""))))
	h.assertBound(tj, key)
	// §5: the public client's refresh token is bound; a refresh with a
	// proof by the key works and stays bound.
	next := h.mustToken(h.cliRefresh(tj.RefreshToken, withDPoP(h.proofFor(key, ""))))
	h.assertBound(next, key)

	// Without a proof the access token is Bearer, without cnf.
	web := h.login("")
	if web.TokenType != "Bearer" || h.claims(web.AccessToken)["cnf"] != nil {
		t.Errorf("Bearer login: token_type %q, cnf %v", web.TokenType, h.claims(web.AccessToken)["cnf"])
	}
}

// A confidential client's refresh token is not bound (its credentials bind
// it), but each access token is bound to the proof it came with.
func TestDPoPConfidentialRefreshNotBound(t *testing.T) {
	h := newHarness(t)
	key := dpoptest.NewKey(t)
	tj := h.mustToken(h.token(formBody("grant_type", "password", "username", aliceName, "password", alicePassword),
		withBasic(webID, webSecret), withDPoP(h.proofFor(key, ""))))
	h.assertBound(tj, key)
	next := h.mustToken(h.refresh(tj.RefreshToken))
	if next.TokenType != "Bearer" {
		t.Errorf("refresh without proof: token_type %q, want Bearer", next.TokenType)
	}
}

func TestDPoPIntrospection(t *testing.T) {
	h := newHarness(t)
	key := dpoptest.NewKey(t)
	tj := h.mustToken(h.cliLogin(withDPoP(h.proofFor(key, ""))))
	for _, tc := range []struct{ name, token, client, secret, wantType string }{
		{"AccessToken", tj.AccessToken, webID, webSecret, "DPoP"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := h.do(http.MethodPost, "/introspect", formBody("token", tc.token), withBasic(tc.client, tc.secret))
			var got struct {
				Active    bool   `json:"active"`
				TokenType string `json:"token_type"`
				Cnf       struct {
					JKT string `json:"jkt"`
				} `json:"cnf"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
				t.Fatalf("introspection body: %v: %s", err, rec.Body)
			}
			if !got.Active || got.TokenType != tc.wantType || got.Cnf.JKT != dpoptest.JKT(t, key) {
				t.Errorf("introspection = %+v", got)
			}
		})
	}
}

// Every refusal the issue lists, at the token endpoint: status, error code,
// headers (assertOAuthError: no-store, no WWW-Authenticate on a 400), and
// that the refused request changed nothing (the refresh token still works
// with its key).
func TestDPoPRefusals(t *testing.T) {
	type setup struct {
		h       *harness
		key     *ecdsa.PrivateKey
		rt      string // a refresh token of cli bound to key
		nonce   string // a current nonce (nonce cases)
		refresh bool   // the request refreshes rt instead of logging in
	}
	for _, tc := range []struct {
		name       string
		nonces     bool
		refresh    bool
		proofs     func(s *setup) []string // the DPoP header values
		wantCode   string
		wantStatus int
	}{
		{name: "WrongHTM", proofs: func(s *setup) []string {
			return []string{dpoptest.Proof(s.h.t, s.key, dpop.ProofClaims{Method: "GET", URL: tokenURL, IssuedAt: s.h.clock.Now()})}
		}, wantCode: CodeInvalidDPoPProof},
		{name: "WrongHTU", proofs: func(s *setup) []string {
			return []string{dpoptest.Proof(s.h.t, s.key, dpop.ProofClaims{Method: "POST", URL: testIssuer + "/revoke", IssuedAt: s.h.clock.Now()})}
		}, wantCode: CodeInvalidDPoPProof},
		{name: "OldIAT", proofs: func(s *setup) []string {
			return []string{dpoptest.Proof(s.h.t, s.key, dpop.ProofClaims{Method: "POST", URL: tokenURL, IssuedAt: s.h.clock.Now().Add(-5 * time.Minute)})}
		}, wantCode: CodeInvalidDPoPProof},
		{name: "AnotherKeysSignature", proofs: func(s *setup) []string {
			return []string{dpoptest.Forge(s.h.t, dpoptest.Header(s.h.t, s.key), dpoptest.Claims("POST", tokenURL, s.h.clock.Now()), "ES256", dpoptest.NewKey(s.h.t))}
		}, wantCode: CodeInvalidDPoPProof},
		{name: "AlgNone", proofs: func(s *setup) []string {
			hdr := dpoptest.Header(s.h.t, s.key)
			hdr["alg"] = "none"
			return []string{dpoptest.Forge(s.h.t, hdr, dpoptest.Claims("POST", tokenURL, s.h.clock.Now()), "none", nil)}
		}, wantCode: CodeInvalidDPoPProof},
		{name: "HS256", proofs: func(s *setup) []string {
			hdr := dpoptest.Header(s.h.t, s.key)
			hdr["alg"] = "HS256"
			hdr["jwk"] = map[string]any{"kty": "oct", "k": "c2VjcmV0"}
			return []string{dpoptest.Forge(s.h.t, hdr, dpoptest.Claims("POST", tokenURL, s.h.clock.Now()), "HS256", []byte("secret"))}
		}, wantCode: CodeInvalidDPoPProof},
		{name: "PrivateKeyInJWK", proofs: func(s *setup) []string {
			hdr := dpoptest.Header(s.h.t, s.key)
			hdr["jwk"].(map[string]any)["d"] = "AAAA"
			return []string{dpoptest.Forge(s.h.t, hdr, dpoptest.Claims("POST", tokenURL, s.h.clock.Now()), "ES256", s.key)}
		}, wantCode: CodeInvalidDPoPProof},
		{name: "TwoHeaders", proofs: func(s *setup) []string {
			return []string{s.h.proofFor(s.key, ""), s.h.proofFor(s.key, "")}
		}, wantCode: CodeInvalidDPoPProof},
		{name: "Garbage", proofs: func(s *setup) []string { return []string{"not-a-jwt"} }, wantCode: CodeInvalidDPoPProof},
		{name: "BoundRefreshWithoutProof", refresh: true, proofs: func(s *setup) []string { return nil }, wantCode: CodeInvalidGrant},
		{name: "BoundRefreshAnotherKey", refresh: true, proofs: func(s *setup) []string {
			return []string{s.h.proofFor(dpoptest.NewKey(s.h.t), "")}
		}, wantCode: CodeInvalidGrant},
		{name: "BoundRefreshInvalidProof", refresh: true, proofs: func(s *setup) []string {
			return []string{dpoptest.Proof(s.h.t, s.key, dpop.ProofClaims{Method: "GET", URL: tokenURL, IssuedAt: s.h.clock.Now()})}
		}, wantCode: CodeInvalidDPoPProof},
		{name: "NonceAbsent", nonces: true, proofs: func(s *setup) []string { return []string{s.h.proofFor(s.key, "")} }, wantCode: CodeUseDPoPNonce},
		{name: "NonceStale", nonces: true, proofs: func(s *setup) []string {
			stale := s.nonce
			s.h.clock.Advance(2 * dpop.DefaultNonceWindow)
			return []string{s.h.proofFor(s.key, stale)}
		}, wantCode: CodeUseDPoPNonce},
		{name: "NonceForged", nonces: true, proofs: func(s *setup) []string { return []string{s.h.proofFor(s.key, "forged")} }, wantCode: CodeUseDPoPNonce},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var nonces *dpop.Nonces
			h := newHarness(t, func(h *harness, c *Config) {
				if tc.nonces {
					var err error
					nonces, err = dpop.NewNonces(make([]byte, 32), 0, h.clock.Now)
					if err != nil {
						t.Fatal(err)
					}
					c.DPoP.Nonces = nonces
				}
			})
			s := &setup{h: h, key: dpoptest.NewKey(t), refresh: tc.refresh}
			if nonces != nil {
				s.nonce, _ = nonces.Issue()
			}
			login := h.mustToken(h.cliLogin(withDPoP(h.proofFor(s.key, s.nonce))))
			s.rt = login.RefreshToken

			var opts []reqOption
			for _, p := range tc.proofs(s) {
				opts = append(opts, func(r *http.Request) { r.Header.Add(dpop.HeaderName, p) })
			}
			var rec *httptest.ResponseRecorder
			if tc.refresh {
				rec = h.cliRefresh(s.rt, opts...)
			} else {
				rec = h.cliLogin(opts...)
			}
			status := tc.wantStatus
			if status == 0 {
				status = http.StatusBadRequest
			}
			assertOAuthError(t, rec, status, tc.wantCode)
			// §8: with nonces on, every answer carries a fresh one, which
			// the client's next proof can use.
			fresh := rec.Header().Get(dpop.NonceHeader)
			if (fresh != "") != tc.nonces {
				t.Errorf("DPoP-Nonce = %q with nonces %v", fresh, tc.nonces)
			}
			if tc.nonces {
				if err := nonces.Check(fresh); err != nil {
					t.Errorf("the offered nonce does not check: %v", err)
				}
				h.mustToken(h.cliLogin(withDPoP(h.proofFor(s.key, fresh))))
			}
			// Nothing changed: the bound refresh token still works with its
			// key (after a refused refresh, no reuse revocation either).
			if !tc.nonces {
				h.assertBound(h.mustToken(h.cliRefresh(s.rt, withDPoP(h.proofFor(s.key, "")))), s.key)
			}
		})
	}
}

func TestDPoPReplayedProof(t *testing.T) {
	h := newHarness(t)
	key := dpoptest.NewKey(t)
	proof := h.proofFor(key, "")
	h.mustToken(h.cliLogin(withDPoP(proof)))
	assertOAuthError(t, h.cliLogin(withDPoP(proof)), http.StatusBadRequest, CodeInvalidDPoPProof)
}

func TestDPoPRequiredByClient(t *testing.T) {
	h := newHarness(t)
	if _, err := h.mem.UpdateClient(t.Context(), cliID, func(c store.Client) (store.Client, error) {
		c.RequireDPoP = true
		return c, nil
	}); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(time.Minute) // past the client cache
	assertOAuthError(t, h.cliLogin(), http.StatusBadRequest, CodeInvalidDPoPProof)
	key := dpoptest.NewKey(t)
	h.assertBound(h.mustToken(h.cliLogin(withDPoP(h.proofFor(key, "")))), key)
}

// failingReplay injects a replay-cache outage.
type failingReplay struct{}

func (failingReplay) Seen(context.Context, string, time.Time) (bool, error) {
	return false, fmt.Errorf("redis: dpop seen: %w", store.ErrUnavailable)
}

// A replay cache that cannot answer refuses the proof (503), never lets a
// possible replay through.
func TestDPoPReplayCacheDown(t *testing.T) {
	h := newHarness(t, func(_ *harness, c *Config) { c.DPoP.Replay = failingReplay{} })
	assertOAuthError(t, h.cliLogin(withDPoP(h.proofFor(dpoptest.NewKey(t), ""))),
		http.StatusServiceUnavailable, CodeTemporarilyUnavailable)
	// Without a proof the cache is not asked.
	h.mustToken(h.cliLogin())
}
