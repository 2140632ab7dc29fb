package tokenserver

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/tokenserver/tokenserver/store"
)

// errNotText is what PostgreSQL answers a string it cannot hold (SQLSTATE
// 22021, character_not_in_repertoire); the stubs below return it the way
// the real driver error reaches the server: as an unknown error.
var errNotText = errors.New(`ERROR: invalid byte sequence for encoding "UTF8" (SQLSTATE 22021)`)

// withTextOnlyStores makes the user and client lookups behave like
// PostgreSQL for strings with NUL or invalid UTF-8 (an error that is not
// ErrNotFound), so that a request letting one through is a 500.
func withTextOnlyStores(h *harness, cfg *Config) {
	users, clients := cfg.Users, cfg.Clients
	notText := func(s string) bool { return !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0 }
	cfg.Users = stubUsers{UserStore: users, userByName: func(ctx context.Context, name string) (store.User, error) {
		if notText(name) {
			return store.User{}, errNotText
		}
		return users.UserByName(ctx, name)
	}}
	cfg.Clients = stubClients{ClientStore: clients, clientByID: func(ctx context.Context, id string) (store.Client, error) {
		if notText(id) {
			return store.Client{}, errNotText
		}
		return clients.ClientByID(ctx, id)
	}}
}

// TestNonTextInputIsInvalidRequest: NUL or invalid UTF-8 in any parameter
// name or value, or in the decoded Basic credentials, is invalid_request
// (400, no challenge) on every client-authenticated endpoint, is never a
// 5xx, and never reaches a store (RFC 6749 Appendix B: names and values are
// UTF-8).
func TestNonTextInputIsInvalidRequest(t *testing.T) {
	login := func(user, pw string) string {
		return formBody("grant_type", "password", "username", user, "password", pw)
	}
	good := login(aliceName, alicePassword)
	rawBasic := func(s string) reqOption {
		return withHeader("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(s)))
	}
	basic := withBasic(webID, webSecret)
	tests := []struct {
		name   string
		method string
		path   string
		body   string
		opts   []reqOption
	}{
		{"token: NUL in username", "POST", "/token", login("ali\x00ce", alicePassword), []reqOption{basic}},
		{"token: invalid UTF-8 in username", "POST", "/token", login("ali\xffce", alicePassword), []reqOption{basic}},
		{"token: raw invalid UTF-8 in username", "POST", "/token",
			"grant_type=password&username=ali\xffce&password=x", []reqOption{basic}},
		{"token: overlong UTF-8 in username", "POST", "/token", login("ali\xc0\xafce", alicePassword), []reqOption{basic}},
		{"token: surrogate in username", "POST", "/token", login("ali\xed\xa0\x80ce", alicePassword), []reqOption{basic}},
		{"token: NUL in password", "POST", "/token", login(aliceName, "pw\x00"), []reqOption{basic}},
		{"token: invalid UTF-8 in grant_type", "POST", "/token", formBody("grant_type", "pass\xffword"), []reqOption{basic}},
		{"token: invalid UTF-8 in scope", "POST", "/token", good + "&scope=read%FF", []reqOption{basic}},
		{"token: NUL in body client_id", "POST", "/token", good + "&client_id=" + "web%00", nil},
		{"token: invalid UTF-8 in body client_id", "POST", "/token", good + "&client_id=app-a%FF", nil},
		{"token: invalid UTF-8 in body client_secret", "POST", "/token", good + "&client_id=web&client_secret=%FF", nil},
		{"token: invalid UTF-8 in an unknown parameter name", "POST", "/token", good + "&x%FF=1", []reqOption{basic}},
		{"token: NUL in an unknown parameter name", "POST", "/token", good + "&x%00=1", []reqOption{basic}},
		{"token: NUL in an unknown parameter value", "POST", "/token", good + "&x=%00", []reqOption{basic}},
		{"token: Basic id invalid UTF-8", "POST", "/token", good, []reqOption{rawBasic("app-a%FF:" + webSecret)}},
		{"token: Basic id NUL", "POST", "/token", good, []reqOption{rawBasic("web%00:" + webSecret)}},
		{"token: Basic id raw invalid UTF-8", "POST", "/token", good, []reqOption{rawBasic("app-a\xff:" + webSecret)}},
		{"token: Basic secret invalid UTF-8", "POST", "/token", good, []reqOption{rawBasic(webID + ":%FF")}},
		{"token: Basic secret NUL", "POST", "/token", good, []reqOption{rawBasic(webID + ":a%00")}},
		{"revoke: NUL in token", "POST", "/revoke", "token=%00", []reqOption{basic}},
		{"revoke: invalid UTF-8 in token_type_hint", "POST", "/revoke", "token=abc&token_type_hint=%FF", []reqOption{basic}},
		{"revoke: Basic id invalid UTF-8", "POST", "/revoke", "token=abc", []reqOption{rawBasic("app-a%FF:" + webSecret)}},
		{"revoke: body client_id NUL", "POST", "/revoke", "token=abc&client_id=cli%00", nil},
		{"introspect: invalid UTF-8 in token", "POST", "/introspect", "token=%FF", []reqOption{basic}},
		{"introspect: Basic id NUL", "POST", "/introspect", "token=abc", []reqOption{rawBasic("web%00:" + webSecret)}},
		{"revocations: Basic id invalid UTF-8", "GET", "/revocations", "", []reqOption{rawBasic("app-a%FF:" + webSecret)}},
		{"revocations: Basic id NUL", "GET", "/revocations", "", []reqOption{rawBasic("web%00:" + webSecret)}},
		{"revocations stream: Basic id invalid UTF-8", "GET", "/revocations/stream", "", []reqOption{rawBasic("app-a%FF:" + webSecret)}},
		{"revocations stream: Basic secret NUL", "GET", "/revocations/stream", "", []reqOption{rawBasic(webID + ":%00")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, withTextOnlyStores)
			rec := h.do(tt.method, tt.path, tt.body, tt.opts...)
			assertOAuthError(t, rec, http.StatusBadRequest, CodeInvalidRequest)
			if logs := h.logs.String(); strings.Contains(logs, "level=ERROR") {
				t.Errorf("logged an ERROR:\n%s", logs)
			}
		})
	}
}

// The rule refuses only what is not text: the harness's own non-ASCII
// form-encoded client id still authenticates, and a non-ASCII unknown
// parameter is still ignored.
func TestUTF8InputStillAccepted(t *testing.T) {
	h := newHarness(t, withTextOnlyStores)
	body := formBody("grant_type", "password", "username", aliceName, "password", alicePassword, "x\u00e9", "caf\u00e9")
	assertTokenResponse(t, h.token(body, withBasic(webID, webSecret)))
	assertTokenResponse(t, h.token(body, withBasic(oddID, oddSecret)))
	// Unknown non-ASCII client: the usual invalid_client, not a 500.
	assertOAuthError(t, h.token(body, withBasic("app-\u00e9", webSecret)), http.StatusUnauthorized, CodeInvalidClient)
}
