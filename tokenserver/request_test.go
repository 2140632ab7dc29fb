package tokenserver

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestTokenEndpointRequestErrors(t *testing.T) {
	login := formBody("grant_type", "password", "username", aliceName, "password", alicePassword)
	tests := []struct {
		name       string
		method     string
		target     string
		body       string
		opts       []reqOption
		wantStatus int
		wantCode   string
	}{
		{name: "GET", method: http.MethodGet, target: "/token", wantStatus: 405, wantCode: CodeInvalidRequest},
		{name: "PUT", method: http.MethodPut, target: "/token", body: login, wantStatus: 405, wantCode: CodeInvalidRequest},
		{name: "content type JSON", target: "/token", body: `{"grant_type":"password"}`,
			opts: []reqOption{withHeader("Content-Type", "application/json"), withBasic(webID, webSecret)}, wantStatus: 400, wantCode: CodeInvalidRequest},
		{name: "content type missing", target: "/token", body: login,
			opts: []reqOption{withHeader("Content-Type", ""), withBasic(webID, webSecret)}, wantStatus: 400, wantCode: CodeInvalidRequest},
		{name: "content type multipart", target: "/token", body: login,
			opts: []reqOption{withHeader("Content-Type", "multipart/form-data; boundary=x"), withBasic(webID, webSecret)}, wantStatus: 400, wantCode: CodeInvalidRequest},
		{name: "charset latin1", target: "/token", body: login,
			opts: []reqOption{withHeader("Content-Type", "application/x-www-form-urlencoded; charset=ISO-8859-1"), withBasic(webID, webSecret)}, wantStatus: 400, wantCode: CodeInvalidRequest},
		{name: "parameters only in query string", target: "/token?" + login, body: "",
			opts: []reqOption{withBasic(webID, webSecret)}, wantStatus: 400, wantCode: CodeInvalidRequest},
		{name: "client credentials only in query string", target: "/token?" + formBody("client_id", webID, "client_secret", webSecret), body: login,
			wantStatus: 400, wantCode: CodeInvalidClient},
		{name: "duplicate grant_type", target: "/token", body: login + "&grant_type=password",
			opts: []reqOption{withBasic(webID, webSecret)}, wantStatus: 400, wantCode: CodeInvalidRequest},
		{name: "duplicate unknown parameter", target: "/token", body: login + "&x=1&x=2",
			opts: []reqOption{withBasic(webID, webSecret)}, wantStatus: 400, wantCode: CodeInvalidRequest},
		{name: "duplicate with one empty", target: "/token", body: login + "&scope=&scope=read",
			opts: []reqOption{withBasic(webID, webSecret)}, wantStatus: 400, wantCode: CodeInvalidRequest},
		{name: "malformed body", target: "/token", body: login + "&%zz=1",
			opts: []reqOption{withBasic(webID, webSecret)}, wantStatus: 400, wantCode: CodeInvalidRequest},
		{name: "oversized body", target: "/token", body: login + "&pad=" + strings.Repeat("a", maxRequestBody),
			opts: []reqOption{withBasic(webID, webSecret)}, wantStatus: 400, wantCode: CodeInvalidRequest},
		{name: "missing grant_type", target: "/token", body: formBody("username", aliceName, "password", alicePassword),
			opts: []reqOption{withBasic(webID, webSecret)}, wantStatus: 400, wantCode: CodeInvalidRequest},
		{name: "empty grant_type counts as missing", target: "/token", body: formBody("grant_type", "", "username", aliceName, "password", alicePassword),
			opts: []reqOption{withBasic(webID, webSecret)}, wantStatus: 400, wantCode: CodeInvalidRequest},
		{name: "missing username", target: "/token", body: formBody("grant_type", "password", "password", alicePassword),
			opts: []reqOption{withBasic(webID, webSecret)}, wantStatus: 400, wantCode: CodeInvalidRequest},
		{name: "missing password", target: "/token", body: formBody("grant_type", "password", "username", aliceName),
			opts: []reqOption{withBasic(webID, webSecret)}, wantStatus: 400, wantCode: CodeInvalidRequest},
		{name: "missing refresh_token", target: "/token", body: formBody("grant_type", "refresh_token"),
			opts: []reqOption{withBasic(webID, webSecret)}, wantStatus: 400, wantCode: CodeInvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			method := tt.method
			if method == "" {
				method = http.MethodPost
			}
			rec := h.do(method, tt.target, tt.body, tt.opts...)
			assertOAuthError(t, rec, tt.wantStatus, tt.wantCode)
		})
	}
}

func TestTokenEndpointAcceptsCharsetUTF8(t *testing.T) {
	h := newHarness(t)
	rec := h.token(formBody("grant_type", "password", "username", aliceName, "password", alicePassword),
		withBasic(webID, webSecret), withHeader("Content-Type", "application/x-www-form-urlencoded; charset=UTF-8"))
	assertTokenResponse(t, rec)
}

// FuzzParseTokenRequest checks the body parser's invariants: it never
// panics, it accepts a body only if no parameter repeats, it never returns
// an empty value or a name or value with NUL or invalid UTF-8, and its
// errors are invalid_request with a valid description.
func FuzzParseTokenRequest(f *testing.F) {
	f.Add("grant_type=password&username=a&password=b", "application/x-www-form-urlencoded")
	f.Add("a=1&a=2", "application/x-www-form-urlencoded; charset=utf-8")
	f.Add("a=%zz", "application/x-www-form-urlencoded")
	f.Add("a;b=1", "application/x-www-form-urlencoded")
	f.Add("scope=&scope=", "application/x-www-form-urlencoded")
	f.Add("x=1", "text/plain")
	f.Add("grant_type=password&username=ali%00ce&password=b", "application/x-www-form-urlencoded")
	f.Add("grant_type=password&username=ali%FFce&password=b", "application/x-www-form-urlencoded")
	f.Add("username=ali\xffce", "application/x-www-form-urlencoded")
	f.Add("client_id=app-a%FF&client_secret=%00", "application/x-www-form-urlencoded")
	f.Add("x%FF=1&x%00=2", "application/x-www-form-urlencoded")
	f.Add("token=%C0%AF&token_type_hint=%ED%A0%80", "application/x-www-form-urlencoded")
	f.Add("scope=caf%C3%A9&x%C3%A9=%E2%82%AC", "application/x-www-form-urlencoded")
	f.Fuzz(func(t *testing.T, body, contentType string) {
		r := httptest.NewRequest(http.MethodPost, "/token?grant_type=query", strings.NewReader(body))
		r.Header.Set("Content-Type", contentType)
		got, err := parseForm(httptest.NewRecorder(), r)
		if err != nil {
			e := classify(err)
			if e.Code != CodeInvalidRequest {
				t.Fatalf("error code %q, want invalid_request", e.Code)
			}
			if sanitizeDescription(e.Description) != e.Description {
				t.Fatalf("description %q has forbidden characters", e.Description)
			}
			return
		}
		values, perr := url.ParseQuery(body)
		if perr != nil {
			t.Fatalf("accepted a body url.ParseQuery rejects: %v", perr)
		}
		for name, v := range got {
			if !utf8.ValidString(name) || !utf8.ValidString(v) || strings.ContainsRune(name+v, 0) {
				t.Fatalf("accepted non-text parameter %q=%q", name, v)
			}
		}
		for name, vs := range values {
			if len(vs) != 1 {
				t.Fatalf("accepted repeated parameter %q", name)
			}
			if v, ok := got[name]; ok && (v == "" || v != vs[0]) {
				t.Fatalf("parameter %q = %q, want %q", name, v, vs[0])
			}
			if _, ok := got[name]; !ok && vs[0] != "" {
				t.Fatalf("parameter %q dropped", name)
			}
		}
		if len(body) > maxRequestBody {
			t.Fatalf("accepted a %d-byte body", len(body))
		}
		if _, ok := got["grant_type"]; ok && !strings.Contains(body, "grant_type") {
			t.Fatal("took grant_type from the query string")
		}
	})
}
