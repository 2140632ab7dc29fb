package tokenserver

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

func TestMetadata(t *testing.T) {
	h := newHarness(t)
	want := map[string]any{
		"issuer":                                        testIssuer,
		"token_endpoint":                                testIssuer + "/token",
		"jwks_uri":                                      testIssuer + "/.well-known/jwks.json",
		"revocation_endpoint":                           testIssuer + "/revoke",
		"introspection_endpoint":                        testIssuer + "/introspect",
		"scopes_supported":                              []any{"read", "write", "admin"},
		"response_types_supported":                      []any{},
		"grant_types_supported":                         []any{"password", "refresh_token", "client_credentials"},
		"token_endpoint_auth_methods_supported":         []any{"client_secret_basic", "client_secret_post", "none"},
		"revocation_endpoint_auth_methods_supported":    []any{"client_secret_basic", "client_secret_post", "none"},
		"introspection_endpoint_auth_methods_supported": []any{"client_secret_basic", "client_secret_post"},
		"dpop_signing_alg_values_supported":             []any{"ES256", "EdDSA", "PS256", "RS256"},
	}
	for _, path := range []string{"/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"} {
		t.Run(path, func(t *testing.T) {
			rec := h.do(http.MethodGet, path, "")
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d", rec.Code)
			}
			assertHeader(t, rec, "Content-Type", "application/json")
			assertHeader(t, rec, "Cache-Control", "public, max-age=3600")
			var got map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("metadata\n got %v\nwant %v", got, want)
			}
		})
	}
}

func TestMetadataIssuerWithTrailingSlash(t *testing.T) {
	h := newHarness(t, func(_ *harness, c *Config) { c.Issuer = "https://auth.example.com/tenant/" })
	var got map[string]any
	if err := json.Unmarshal(h.do(http.MethodGet, "/.well-known/oauth-authorization-server", "").Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got["issuer"] != "https://auth.example.com/tenant/" || got["token_endpoint"] != "https://auth.example.com/tenant/token" {
		t.Errorf("issuer %v token_endpoint %v", got["issuer"], got["token_endpoint"])
	}
}

func TestJWKS(t *testing.T) {
	tests := []struct {
		name        string
		ifNoneMatch string
		wantStatus  int
	}{
		{name: "plain", wantStatus: 200},
		{name: "matching etag", ifNoneMatch: "CURRENT", wantStatus: 304},
		{name: "weak matching etag", ifNoneMatch: "W/CURRENT", wantStatus: 304},
		{name: "etag in a list", ifNoneMatch: `"old", CURRENT`, wantStatus: 304},
		{name: "star", ifNoneMatch: "*", wantStatus: 304},
		{name: "stale etag", ifNoneMatch: `"old"`, wantStatus: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			body, etag := h.keys.JWKS()
			etag = quoteETag(etag)
			var opts []reqOption
			if tt.ifNoneMatch != "" {
				opts = append(opts, withHeader("If-None-Match", replaceCurrent(tt.ifNoneMatch, etag)))
			}
			rec := h.do(http.MethodGet, "/.well-known/jwks.json", "", opts...)
			if rec.Code != tt.wantStatus {
				t.Fatalf("status %d, want %d", rec.Code, tt.wantStatus)
			}
			assertHeader(t, rec, "ETag", etag)
			assertHeader(t, rec, "Cache-Control", "public, max-age=600")
			if tt.wantStatus == http.StatusOK {
				assertHeader(t, rec, "Content-Type", "application/jwk-set+json")
				if rec.Body.String() != string(body) {
					t.Errorf("body %s, want %s", rec.Body, body)
				}
			} else if rec.Body.Len() != 0 {
				t.Errorf("304 with a body")
			}
		})
	}
}

// replaceCurrent substitutes the live entity tag for the word CURRENT.
func replaceCurrent(s, etag string) string { return strings.ReplaceAll(s, "CURRENT", etag) }

func TestGetEndpointsRejectOtherMethods(t *testing.T) {
	h := newHarness(t)
	for _, path := range []string{"/.well-known/jwks.json", "/.well-known/oauth-authorization-server", "/healthz", "/readyz"} {
		rec := h.do(http.MethodPost, path, "")
		if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "GET, HEAD" {
			t.Errorf("POST %s: status %d Allow %q", path, rec.Code, rec.Header().Get("Allow"))
		}
	}
}
