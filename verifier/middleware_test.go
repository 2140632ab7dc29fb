package verifier_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/tokenserver/tokenserver/verifier"
)

// stubChecker answers Revoked from function fields (used only to inject
// revocation outcomes into the middleware).
type stubChecker struct {
	revoked func(*verifier.Claims) (bool, error)
}

func (s stubChecker) Revoked(_ context.Context, c *verifier.Claims) (bool, error) {
	return s.revoked(c)
}

func TestMiddleware(t *testing.T) {
	clk := newClock()
	k := newKey(t, "k", "ES256")
	is := newIssuer(t, k)
	rc := stubChecker{revoked: func(c *verifier.Claims) (bool, error) {
		switch c.JTI {
		case "revoked":
			return true, nil
		case "unknown":
			return false, fmt.Errorf("%w: feed down", verifier.ErrRevocationUnavailable)
		}
		return false, nil
	}}
	v := newVerifier(t, is, clk, rc)
	hello := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := verifier.ClaimsFromContext(r.Context())
		fmt.Fprintf(w, "hello %s", c.Username)
	})
	h := verifier.Middleware(v, "read", "write")(hello)

	now := clk.Now()
	tok := func(kv ...any) string {
		c := is.claims(now)
		for i := 0; i < len(kv); i += 2 {
			c[kv[i].(string)] = kv[i+1]
		}
		return k.sign(t, c, nil)
	}
	valid := tok()

	tests := []struct {
		name       string
		auth       []string
		wantStatus int
		wantWWW    string
		wantError  string
	}{
		{"valid", []string{"Bearer " + valid}, 200, "", ""},
		{"scheme is case-insensitive", []string{"bearer " + valid}, 200, "", ""},
		{"no Authorization", nil, 401, `Bearer realm="api"`, ""},
		{"another scheme", []string{"Basic dXNlcjpwYXNz"}, 401, `Bearer realm="api"`, ""},
		{"empty bearer", []string{"Bearer "}, 400,
			`Bearer realm="api", error="invalid_request", error_description="The Authorization header is malformed"`, "invalid_request"},
		{"not a b64token", []string{"Bearer a b"}, 400,
			`Bearer realm="api", error="invalid_request", error_description="The Authorization header is malformed"`, "invalid_request"},
		{"two Authorization headers", []string{"Bearer " + valid, "Bearer " + valid}, 400,
			`Bearer realm="api", error="invalid_request", error_description="The Authorization header is malformed"`, "invalid_request"},
		{"garbage token", []string{"Bearer abc.def.ghi"}, 401,
			`Bearer realm="api", error="invalid_token", error_description="The access token is invalid"`, "invalid_token"},
		{"expired", []string{"Bearer " + tok("exp", now.Add(-time.Minute).Unix())}, 401,
			`Bearer realm="api", error="invalid_token", error_description="The access token expired"`, "invalid_token"},
		{"revoked", []string{"Bearer " + tok("jti", "revoked")}, 401,
			`Bearer realm="api", error="invalid_token", error_description="The access token has been revoked"`, "invalid_token"},
		{"missing scope", []string{"Bearer " + tok("scope", "read")}, 403,
			`Bearer realm="api", error="insufficient_scope", error_description="The access token lacks a required scope", scope="read write"`, "insufficient_scope"},
		{"revocation status unknown", []string{"Bearer " + tok("jti", "unknown")}, 503, "", "temporarily_unavailable"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", "/hello", nil)
			for _, a := range tc.auth {
				req.Header.Add("Authorization", a)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.wantStatus {
				t.Fatalf("status = %d, want %d (body %q)", rec.Code, tc.wantStatus, rec.Body)
			}
			if got := rec.Header().Get("WWW-Authenticate"); got != tc.wantWWW {
				t.Fatalf("WWW-Authenticate = %q, want %q", got, tc.wantWWW)
			}
			if tc.wantStatus == 200 {
				if rec.Body.String() != "hello alice" {
					t.Fatalf("body = %q", rec.Body)
				}
				return
			}
			if got := rec.Header().Get("Cache-Control"); got != "no-store" {
				t.Errorf("Cache-Control = %q", got)
			}
			if tc.wantStatus == 503 && rec.Header().Get("Retry-After") == "" {
				t.Error("503 without Retry-After")
			}
			if tc.wantError == "" {
				if rec.Body.Len() != 0 {
					t.Errorf("body = %q, want empty", rec.Body)
				}
				return
			}
			var body struct {
				Error string `json:"error"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.Error != tc.wantError {
				t.Fatalf("body %q: error = %q, want %q (%v)", rec.Body, body.Error, tc.wantError, err)
			}
		})
	}
}

func TestMiddlewareRealmIsQuoted(t *testing.T) {
	clk := newClock()
	is := newIssuer(t, newKey(t, "k", "ES256"))
	v, err := verifier.New(context.Background(), verifier.Config{Issuer: is.URL, Audience: testAudience, Realm: `a "quoted" \realm`, Now: clk.Now})
	must(t, err)
	rec := httptest.NewRecorder()
	verifier.Middleware(v)(http.NotFoundHandler()).ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if got, want := rec.Header().Get("WWW-Authenticate"), `Bearer realm="a \"quoted\" \\realm"`; got != want {
		t.Fatalf("WWW-Authenticate = %q, want %q", got, want)
	}
}
