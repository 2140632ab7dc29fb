package tokenserver

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
)

func TestClientAuthentication(t *testing.T) {
	login := []string{"grant_type", "password", "username", aliceName, "password", alicePassword}
	body := func(extra ...string) string { return formBody(append(append([]string{}, login...), extra...)...) }
	rawBasic := func(s string) reqOption {
		return withHeader("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(s)))
	}
	tests := []struct {
		name string
		body string
		opts []reqOption
		// wantStatus 200 means success.
		wantStatus int
		wantCode   string
	}{
		{name: "basic", body: body(), opts: []reqOption{withBasic(webID, webSecret)}, wantStatus: 200},
		{name: "basic scheme is case-insensitive", body: body(),
			opts: []reqOption{withHeader("Authorization", "basic "+base64.StdEncoding.EncodeToString([]byte(webID+":"+webSecret)))}, wantStatus: 200},
		{name: "basic with matching body client_id", body: body("client_id", webID), opts: []reqOption{withBasic(webID, webSecret)}, wantStatus: 200},
		{name: "basic form-decodes id and secret", body: body(), opts: []reqOption{withBasic(oddID, oddSecret)}, wantStatus: 200},
		{name: "basic plus is a space", body: body(),
			opts: []reqOption{rawBasic("svc%3Aone+two:" + strings.ReplaceAll(strings.ReplaceAll(strings.ReplaceAll(
				strings.ReplaceAll(oddSecret, "%", "%25"), "+", "%2B"), ":", "%3A"), "&", "%26"))}, wantStatus: 200},
		{name: "post", body: body("client_id", webID, "client_secret", webSecret), wantStatus: 200},
		{name: "public client with client_id only", body: body("client_id", cliID), wantStatus: 200},
		{name: "public client with basic and empty secret", body: body(), opts: []reqOption{withBasic(cliID, "")}, wantStatus: 200},

		{name: "basic and body secret", body: body("client_secret", webSecret), opts: []reqOption{withBasic(webID, webSecret)},
			wantStatus: 400, wantCode: CodeInvalidRequest},
		{name: "basic and different body client_id", body: body("client_id", mobileID), opts: []reqOption{withBasic(webID, webSecret)},
			wantStatus: 400, wantCode: CodeInvalidRequest},
		{name: "basic not base64", body: body(), opts: []reqOption{withHeader("Authorization", "Basic !!!")},
			wantStatus: 400, wantCode: CodeInvalidRequest},
		{name: "basic without colon", body: body(), opts: []reqOption{rawBasic(webID)},
			wantStatus: 400, wantCode: CodeInvalidRequest},
		{name: "basic bad percent-encoding", body: body(), opts: []reqOption{rawBasic("web%zz:" + webSecret)},
			wantStatus: 400, wantCode: CodeInvalidRequest},
		{name: "basic empty client id", body: body(), opts: []reqOption{rawBasic(":" + webSecret)},
			wantStatus: 400, wantCode: CodeInvalidRequest},
		{name: "bearer scheme", body: body(), opts: []reqOption{withHeader("Authorization", "Bearer abc")},
			wantStatus: 401, wantCode: CodeInvalidClient},
		{name: "basic unknown client", body: body(), opts: []reqOption{withBasic("nobody", webSecret)},
			wantStatus: 401, wantCode: CodeInvalidClient},
		{name: "basic wrong secret", body: body(), opts: []reqOption{withBasic(webID, mobileSecret)},
			wantStatus: 401, wantCode: CodeInvalidClient},
		{name: "basic confidential client without secret", body: body(), opts: []reqOption{withBasic(webID, "")},
			wantStatus: 401, wantCode: CodeInvalidClient},
		{name: "basic public client with secret", body: body(), opts: []reqOption{withBasic(cliID, "guess")},
			wantStatus: 401, wantCode: CodeInvalidClient},
		{name: "post unknown client", body: body("client_id", "nobody", "client_secret", webSecret),
			wantStatus: 400, wantCode: CodeInvalidClient},
		{name: "post wrong secret", body: body("client_id", webID, "client_secret", mobileSecret),
			wantStatus: 400, wantCode: CodeInvalidClient},
		{name: "post confidential client without secret", body: body("client_id", webID),
			wantStatus: 400, wantCode: CodeInvalidClient},
		{name: "post public client with secret", body: body("client_id", cliID, "client_secret", "guess"),
			wantStatus: 400, wantCode: CodeInvalidClient},
		{name: "no client authentication", body: body(), wantStatus: 400, wantCode: CodeInvalidClient},
		{name: "secret without client_id", body: body("client_secret", webSecret), wantStatus: 400, wantCode: CodeInvalidClient},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			rec := h.token(tt.body, tt.opts...)
			if tt.wantStatus == http.StatusOK {
				assertTokenResponse(t, rec)
				return
			}
			assertOAuthError(t, rec, tt.wantStatus, tt.wantCode)
		})
	}
}

// An unknown client and a wrong secret must be indistinguishable.
func TestClientAuthenticationFailuresLookAlike(t *testing.T) {
	h := newHarness(t)
	login := formBody("grant_type", "password", "username", aliceName, "password", alicePassword)
	unknown := h.token(login, withBasic("nobody", webSecret))
	wrong := h.token(login, withBasic(webID, "wrong-secret"))
	if unknown.Body.String() != wrong.Body.String() || unknown.Code != wrong.Code {
		t.Errorf("unknown client %d %s, wrong secret %d %s", unknown.Code, unknown.Body, wrong.Code, wrong.Body)
	}
}

func TestHashClientSecret(t *testing.T) {
	got := HashClientSecret("s3cret")
	// printf s3cret | sha256sum
	const want = "sha256:1ec1c26b50d5d3c58d9583181af8076655fe00756bf7285940ba3670f99fcba0"
	if got != want {
		t.Errorf("HashClientSecret = %q, want %q", got, want)
	}
	if !secretMatches("s3cret", got) || secretMatches("s3cret ", got) || secretMatches("", got) {
		t.Error("secretMatches disagrees with HashClientSecret")
	}
}
