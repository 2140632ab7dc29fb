package verifier_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tokenserver/tokenserver/verifier"
)

// TestAudienceMismatch: a token that fails on aud alone is reported as
// ErrAudienceMismatch naming the token's audiences and the expected one; a
// token that also fails another check is reported for that check.
func TestAudienceMismatch(t *testing.T) {
	clk := newClock()
	k := newKey(t, "k", "ES256")
	is := newIssuer(t, k)
	v := newVerifier(t, is, clk, nil)
	now := clk.Now()
	tok := func(kv ...any) string {
		c := is.claims(now)
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(c, kv[i].(string))
				continue
			}
			c[kv[i].(string)] = kv[i+1]
		}
		return k.sign(t, c, nil)
	}
	long := strings.Repeat("x", 150)
	tests := []struct {
		name    string
		token   string
		want    error
		wantMsg string // for ErrAudienceMismatch: the whole error text
	}{
		{"the issuer's default aud", tok("aud", is.URL), verifier.ErrAudienceMismatch,
			"verifier: invalid token: audience mismatch: token aud [" + is.URL + "] does not include " + testAudience},
		{"an array without the audience", tok("aud", []string{"a", "b"}), verifier.ErrAudienceMismatch,
			"verifier: invalid token: audience mismatch: token aud [a b] does not include " + testAudience},
		{"no aud", tok("aud", nil), verifier.ErrAudienceMismatch,
			"verifier: invalid token: audience mismatch: token aud [] does not include " + testAudience},
		{"characters outside RFC 6750's set become ?", tok("aud", "a\"b\\c\r\nd é"), verifier.ErrAudienceMismatch,
			"verifier: invalid token: audience mismatch: token aud [a?b?c??d ??] does not include " + testAudience},
		{"long and many audiences are clipped", tok("aud", []string{long, "2", "3", "4", "5", "6"}), verifier.ErrAudienceMismatch,
			"verifier: invalid token: audience mismatch: token aud [" + long[:100] + "... 2 3 4 ...] does not include " + testAudience},
		{"expired and wrong aud: expired", tok("aud", is.URL, "exp", now.Add(-time.Minute).Unix()), verifier.ErrExpired, ""},
		{"wrong issuer and wrong aud", tok("aud", is.URL, "iss", is.URL+"/x"), verifier.ErrInvalidToken, ""},
		{"missing jti and wrong aud", tok("aud", is.URL, "jti", nil), verifier.ErrInvalidToken, ""},
		{"not yet valid and wrong aud", tok("aud", is.URL, "nbf", now.Add(time.Minute).Unix()), verifier.ErrInvalidToken, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := v.Verify(context.Background(), tc.token)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Verify: %v, want %v", err, tc.want)
			}
			if !errors.Is(err, verifier.ErrInvalidToken) {
				t.Fatalf("Verify: %v does not wrap ErrInvalidToken", err)
			}
			isAud := errors.Is(err, verifier.ErrAudienceMismatch)
			if isAud != (tc.wantMsg != "") {
				t.Fatalf("Verify: %v; ErrAudienceMismatch = %v, want %v", err, isAud, tc.wantMsg != "")
			}
			if tc.wantMsg != "" && err.Error() != tc.wantMsg {
				t.Fatalf("error = %q\nwant    %q", err, tc.wantMsg)
			}
		})
	}
}

// TestMiddlewareAudienceMismatch: RFC 6750 §3 error shape, with an
// error_description naming the audiences, a warning in the log, and neither
// the token nor anything else of it in the response or the log.
func TestMiddlewareAudienceMismatch(t *testing.T) {
	clk := newClock()
	k := newKey(t, "k", "ES256")
	is := newIssuer(t, k)
	var logs bytes.Buffer
	v, err := verifier.New(context.Background(), verifier.Config{
		Issuer: is.URL, Audience: testAudience, Now: clk.Now, Realm: "api",
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo})),
	})
	must(t, err)
	h := verifier.Middleware(v, "read")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Error("handler reached with a token for another audience")
	}))

	tests := []struct {
		name     string
		aud      any
		wantDesc string
	}{
		{"the issuer's default aud", is.URL, "audience mismatch: token aud [" + is.URL + "] does not include " + testAudience},
		{"hostile characters", []string{"x\", error=\"y", "\\\r\n\x00ü"}, "audience mismatch: token aud [x?, error=?y ??????] does not include " + testAudience},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			logs.Reset()
			c := is.claims(clk.Now())
			c["aud"] = tc.aud
			c["username"] = "secret-username"
			token := k.sign(t, c, nil)
			req := httptest.NewRequest("GET", "/hello", nil)
			req.Header.Set("Authorization", "Bearer "+token)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)

			if rec.Code != http.StatusUnauthorized {
				t.Fatalf("status = %d, want 401", rec.Code)
			}
			wantWWW := `Bearer realm="api", error="invalid_token", error_description="` + tc.wantDesc + `"`
			if got := rec.Header().Get("WWW-Authenticate"); got != wantWWW {
				t.Fatalf("WWW-Authenticate = %q\nwant                 %q", got, wantWWW)
			}
			if got := rec.Header().Get("Cache-Control"); got != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", got)
			}
			var body struct {
				Error       string `json:"error"`
				Description string `json:"error_description"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatalf("body %q: %v", rec.Body, err)
			}
			if body.Error != "invalid_token" || body.Description != tc.wantDesc {
				t.Fatalf("body = %+v", body)
			}
			log := logs.String()
			if !strings.Contains(log, "level=WARN") || !strings.Contains(log, "audience mismatch") {
				t.Fatalf("log = %q, want a warning naming the audience mismatch", log)
			}
			parts := strings.Split(token, ".")
			for _, leak := range []string{parts[1], parts[2], "secret-username", c["jti"].(string)} {
				if strings.Contains(log, leak) || strings.Contains(rec.Body.String(), leak) || strings.Contains(rec.Header().Get("WWW-Authenticate"), leak) {
					t.Fatalf("%q leaked into the log or the response", leak)
				}
			}
		})
	}
}
