package tokenserver

import (
	"net/http"
	"testing"
)

func TestGrantDispatchErrors(t *testing.T) {
	tests := []struct {
		name       string
		body       string
		opts       []reqOption
		wantStatus int
		wantCode   string
	}{
		{name: "unknown grant type", body: formBody("grant_type", "urn:ietf:params:oauth:grant-type:device_code", "device_code", "x"),
			opts: []reqOption{withBasic(webID, webSecret)}, wantStatus: 400, wantCode: CodeUnsupportedGrantType},
		{name: "unknown grant type before unauthorized", body: formBody("grant_type", "authorization_code", "code", "x"),
			opts: []reqOption{withBasic(refresherID, refresherSecret)}, wantStatus: 400, wantCode: CodeUnsupportedGrantType},
		{name: "client authenticated before grant type is judged", body: formBody("grant_type", "authorization_code", "code", "x"),
			opts: []reqOption{withBasic(webID, "wrong")}, wantStatus: 401, wantCode: CodeInvalidClient},
		{name: "password grant not registered", body: formBody("grant_type", "password", "username", aliceName, "password", alicePassword),
			opts: []reqOption{withBasic(refresherID, refresherSecret)}, wantStatus: 400, wantCode: CodeUnauthorizedClient},
		{name: "refresh grant not registered", body: formBody("grant_type", "refresh_token", "refresh_token", "x"),
			opts: []reqOption{withBasic(batchID, batchSecret)}, wantStatus: 400, wantCode: CodeUnauthorizedClient},
		{name: "scope beyond client", body: formBody("grant_type", "password", "username", aliceName, "password", alicePassword, "scope", "read admin"),
			opts: []reqOption{withBasic(mobileID, mobileSecret)}, wantStatus: 400, wantCode: CodeInvalidScope},
		{name: "scope beyond client on refresh", body: formBody("grant_type", "refresh_token", "refresh_token", "x", "scope", "admin"),
			opts: []reqOption{withBasic(mobileID, mobileSecret)}, wantStatus: 400, wantCode: CodeInvalidScope},
		{name: "malformed scope", body: formBody("grant_type", "password", "username", aliceName, "password", alicePassword, "scope", "read \"write\""),
			opts: []reqOption{withBasic(webID, webSecret)}, wantStatus: 400, wantCode: CodeInvalidScope},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			hashing := h.countHashing()
			assertOAuthError(t, h.token(tt.body, tt.opts...), tt.wantStatus, tt.wantCode)
			if n := hashing.calls.Load(); n != 0 {
				t.Errorf("%d password hash computations before the request was accepted", n)
			}
		})
	}
}

func TestScopeSelection(t *testing.T) {
	tests := []struct {
		name      string
		client    reqOption
		scope     string
		wantScope string
	}{
		{name: "no scope gets all of the client's", client: withBasic(webID, webSecret), wantScope: "read write admin"},
		{name: "subset", client: withBasic(webID, webSecret), scope: "write read", wantScope: "write read"},
		{name: "duplicates and extra spaces collapse", client: withBasic(webID, webSecret), scope: " read  read write ", wantScope: "read write"},
		{name: "only spaces is no scope", client: withBasic(mobileID, mobileSecret), scope: "   ", wantScope: "read write"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			kv := []string{"grant_type", "password", "username", aliceName, "password", alicePassword}
			if tt.scope != "" {
				kv = append(kv, "scope", tt.scope)
			}
			tok := h.mustToken(h.token(formBody(kv...), tt.client))
			if tok.Scope != tt.wantScope {
				t.Errorf("response scope = %q, want %q", tok.Scope, tt.wantScope)
			}
			if got := h.claims(tok.AccessToken)["scope"]; got != tt.wantScope {
				t.Errorf("access token scope = %v, want %q", got, tt.wantScope)
			}
		})
	}
}

func TestWrongMethodOnTokenEndpointSetsAllow(t *testing.T) {
	h := newHarness(t)
	for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodDelete, http.MethodOptions} {
		rec := h.do(m, "/token", "")
		if rec.Code != http.StatusMethodNotAllowed {
			t.Errorf("%s: status %d", m, rec.Code)
		}
		assertHeader(t, rec, "Allow", http.MethodPost)
		assertHeader(t, rec, "Cache-Control", "no-store")
	}
}
