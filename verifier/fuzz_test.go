package verifier_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tokenserver/tokenserver/dpop"
	"github.com/tokenserver/tokenserver/internal/dpoptest"
	"github.com/tokenserver/tokenserver/internal/jwstest"
	"github.com/tokenserver/tokenserver/verifier"
)

// FuzzVerify feeds arbitrary strings to Verify: it must never panic, must
// refuse with ErrInvalidToken, and must accept nothing but a genuine token byte for byte: every segment is
// canonical base64url (RFC 7515 §2), so no re-encoding of a genuine
// token passes either.
func FuzzVerify(f *testing.F) {
	clk := newClock()
	es := awkwardKey(f, "es", "ES256")
	ed := awkwardKey(f, "ed", "EdDSA")
	is := newIssuer(f, es, ed)
	v := newVerifier(f, is, clk, nil)
	genuine := map[string]bool{}
	for _, k := range []*signingKey{es, ed} {
		tok := awkwardToken(f, k, is, clk.Now())
		genuine[tok] = true
		signingInput := tok[:strings.LastIndexByte(tok, '.')]
		f.Add(tok)
		f.Add(signingInput + ".")
		f.Add(strings.Replace(tok, ".", "=.", 1))
		for _, m := range jwstest.EncodingMutations(f, tok) {
			f.Add(m.Token)
		}
	}
	f.Add("")
	f.Add("..")
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Fuzz(func(t *testing.T, token string) {
		c, err := v.Verify(context.Background(), token)
		if err != nil {
			if !errors.Is(err, verifier.ErrInvalidToken) {
				t.Fatalf("error %v does not wrap ErrInvalidToken", err)
			}
			if c != nil {
				t.Fatal("claims returned with an error")
			}
			return
		}
		if !genuine[token] {
			t.Fatalf("accepted a token that was never issued: %q", token)
		}
	})
}

// FuzzMiddlewareDPoP feeds arbitrary Authorization and DPoP header values
// to the middleware (its own scheme parsing and the DPoP path): it must
// never panic, must answer every refusal with a challenge, and must accept
// only the genuine bound token with a genuine proof of its key.
func FuzzMiddlewareDPoP(f *testing.F) {
	clk := newClock()
	k := newKey(f, "k", "ES256")
	is := newIssuer(f, k)
	v := newVerifier(f, is, clk, nil)
	h := verifier.Middleware(v)(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	key := dpoptest.NewKey(f)
	c := is.claims(clk.Now())
	c["cnf"] = map[string]any{"jkt": dpoptest.JKT(f, key)}
	tok := k.sign(f, c, nil)
	genuine := map[string]bool{}
	for range 3 {
		p := dpoptest.Proof(f, key, dpop.ProofClaims{Method: http.MethodGet, URL: resourceURL, AccessToken: tok, IssuedAt: clk.Now()})
		genuine[p] = true
		f.Add("DPoP "+tok, p)
		f.Add("Bearer "+tok, p)
		f.Add("DPoP  "+tok, p[:len(p)-2])
	}
	f.Add("DPoP", "")
	f.Add("DPoP ", "..")
	f.Add("dpop "+tok, "a.b.c")
	f.Fuzz(func(t *testing.T, auth, proof string) {
		req := httptest.NewRequest(http.MethodGet, resourceURL, nil)
		req.Header.Set("Authorization", auth)
		req.Header.Set(dpop.HeaderName, proof)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusOK:
			scheme, rest, _ := strings.Cut(auth, " ")
			if !strings.EqualFold(scheme, "DPoP") || strings.TrimLeft(rest, " ") != tok || !genuine[proof] {
				t.Fatalf("accepted Authorization %q with proof %q", auth, proof)
			}
		case http.StatusBadRequest, http.StatusUnauthorized:
			if rec.Header().Get("WWW-Authenticate") == "" {
				t.Fatalf("%d without a challenge", rec.Code)
			}
		default:
			t.Fatalf("status %d for Authorization %q with proof %q", rec.Code, auth, proof)
		}
	})
}
