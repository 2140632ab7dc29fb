package tokenserver

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tokenserver/tokenserver/store"
)

func TestIntrospectErrors(t *testing.T) {
	tests := []struct {
		name       string
		inject     func(h *harness, c *Config)
		method     string
		body       func(tok tokenJSON) string
		opts       []reqOption
		wantStatus int
		wantCode   string
	}{
		{name: "GET", method: http.MethodGet, body: func(tokenJSON) string { return "" },
			opts: []reqOption{withBasic(webID, webSecret)}, wantStatus: http.StatusMethodNotAllowed, wantCode: CodeInvalidRequest},
		{name: "JSON body", body: func(tok tokenJSON) string { return `{"token":"` + tok.AccessToken + `"}` },
			opts:       []reqOption{withBasic(webID, webSecret), withHeader("Content-Type", "application/json")},
			wantStatus: http.StatusBadRequest, wantCode: CodeInvalidRequest},
		{name: "repeated token", body: func(tok tokenJSON) string { return formBody("token", tok.AccessToken, "token", "x") },
			opts: []reqOption{withBasic(webID, webSecret)}, wantStatus: http.StatusBadRequest, wantCode: CodeInvalidRequest},
		{name: "repeated hint", body: func(tok tokenJSON) string {
			return formBody("token", tok.AccessToken, "token_type_hint", "access_token", "token_type_hint", "refresh_token")
		}, opts: []reqOption{withBasic(webID, webSecret)}, wantStatus: http.StatusBadRequest, wantCode: CodeInvalidRequest},
		{name: "body over 64 KiB", body: func(tok tokenJSON) string { return formBody("token", strings.Repeat("a", 65<<10)) },
			opts: []reqOption{withBasic(webID, webSecret)}, wantStatus: http.StatusBadRequest, wantCode: CodeInvalidRequest},
		{name: "missing token", body: func(tokenJSON) string { return "" },
			opts: []reqOption{withBasic(webID, webSecret)}, wantStatus: http.StatusBadRequest, wantCode: CodeInvalidRequest},
		{name: "no client authentication", body: func(tok tokenJSON) string { return formBody("token", tok.AccessToken) },
			wantStatus: http.StatusBadRequest, wantCode: CodeInvalidClient},
		{name: "wrong secret over Basic", body: func(tok tokenJSON) string { return formBody("token", tok.AccessToken) },
			opts: []reqOption{withBasic(webID, "wrong")}, wantStatus: http.StatusUnauthorized, wantCode: CodeInvalidClient},
		{name: "wrong secret in the body",
			body: func(tok tokenJSON) string {
				return formBody("token", tok.AccessToken, "client_id", webID, "client_secret", "wrong")
			},
			wantStatus: http.StatusBadRequest, wantCode: CodeInvalidClient},
		{name: "public client by client_id", body: func(tok tokenJSON) string { return formBody("token", tok.AccessToken, "client_id", cliID) },
			wantStatus: http.StatusBadRequest, wantCode: CodeInvalidClient},
		{name: "public client over Basic", body: func(tok tokenJSON) string { return formBody("token", tok.AccessToken) },
			opts: []reqOption{withBasic(cliID, "")}, wantStatus: http.StatusUnauthorized, wantCode: CodeInvalidClient},
		{name: "malformed Basic", body: func(tok tokenJSON) string { return formBody("token", tok.AccessToken) },
			opts:       []reqOption{withHeader("Authorization", "Basic !!!")},
			wantStatus: http.StatusBadRequest, wantCode: CodeInvalidRequest},
		{name: "client store unavailable", body: func(tok tokenJSON) string { return formBody("token", tok.AccessToken) },
			opts: []reqOption{withBasic(webID, webSecret)},
			inject: func(h *harness, _ *Config) {
				// A cold cache: the login above cached the registration.
				h.replaceClients(stubClients{ClientStore: h.mem, clientByID: func(context.Context, string) (store.Client, error) {
					return store.Client{}, store.ErrUnavailable
				}})
			},
			wantStatus: http.StatusServiceUnavailable, wantCode: CodeTemporarilyUnavailable},
		// The denylist cannot be read (Redis and PostgreSQL both down in
		// the tiered store): never active:true.
		{name: "revocation check unavailable", body: func(tok tokenJSON) string { return formBody("token", tok.AccessToken) },
			opts: []reqOption{withBasic(webID, webSecret)},
			inject: func(h *harness, c *Config) {
				c.Revocations = stubRevocations{RevocationStore: h.mem,
					isRevoked: func(context.Context, store.RevocationQuery, time.Time) (bool, error) {
						return false, store.ErrUnavailable
					}}
			},
			wantStatus: http.StatusServiceUnavailable, wantCode: CodeTemporarilyUnavailable},
		{name: "revocation check fails otherwise", body: func(tok tokenJSON) string { return formBody("token", tok.AccessToken) },
			opts: []reqOption{withBasic(webID, webSecret)},
			inject: func(h *harness, c *Config) {
				c.Revocations = stubRevocations{RevocationStore: h.mem,
					isRevoked: func(context.Context, store.RevocationQuery, time.Time) (bool, error) {
						return false, errors.New("boom")
					}}
			},
			wantStatus: http.StatusServiceUnavailable, wantCode: CodeTemporarilyUnavailable},
		{name: "refresh lookup unavailable", body: func(tok tokenJSON) string { return formBody("token", tok.RefreshToken) },
			opts: []reqOption{withBasic(webID, webSecret)},
			inject: func(h *harness, c *Config) {
				c.Refresh = stubRefresh{RefreshTokenStore: h.mem, lookup: func(context.Context, string) (store.RefreshToken, store.RefreshFamily, error) {
					return store.RefreshToken{}, store.RefreshFamily{}, store.ErrUnavailable
				}}
			},
			wantStatus: http.StatusServiceUnavailable, wantCode: CodeTemporarilyUnavailable},
		{name: "user store unavailable", body: func(tok tokenJSON) string { return formBody("token", tok.RefreshToken) },
			opts: []reqOption{withBasic(webID, webSecret)},
			inject: func(h *harness, c *Config) {
				c.Users = stubUsers{UserStore: h.mem, userByID: func(context.Context, string) (store.User, error) {
					return store.User{}, store.ErrUnavailable
				}}
			},
			wantStatus: http.StatusServiceUnavailable, wantCode: CodeTemporarilyUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			tok := h.login("")
			if tt.inject != nil {
				tt.inject(h, &h.srv.cfg)
			}
			method := tt.method
			if method == "" {
				method = http.MethodPost
			}
			rec := h.do(method, "/introspect", tt.body(tok), tt.opts...)
			assertOAuthError(t, rec, tt.wantStatus, tt.wantCode)
			if strings.Contains(rec.Body.String(), "active") {
				t.Errorf("error body mentions active: %s", rec.Body)
			}
		})
	}
}

func TestIntrospectActiveAccessToken(t *testing.T) {
	tests := []struct {
		name       string
		id, secret string
		hint       string
	}{
		{name: "by its own client", id: webID, secret: webSecret},
		{name: "by a resource server's client", id: mobileID, secret: mobileSecret},
		{name: "with the access_token hint", id: webID, secret: webSecret, hint: "access_token"},
		{name: "with a misleading hint", id: webID, secret: webSecret, hint: "refresh_token"},
		{name: "with an unknown hint", id: webID, secret: webSecret, hint: "saml2"},
		{name: "by a client that needs form-encoded Basic", id: oddID, secret: oddSecret},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			tok := h.login("read write")
			c := h.claims(tok.AccessToken)
			var kv []string
			if tt.hint != "" {
				kv = []string{"token_type_hint", tt.hint}
			}
			got := h.introspectAs(tt.id, tt.secret, tok.AccessToken, kv...)
			want := map[string]any{
				"active":     true,
				"scope":      "read write",
				"client_id":  webID,
				"username":   aliceName,
				"token_type": "Bearer",
				"token_use":  "access_token",
				"exp":        c["exp"],
				"iat":        c["iat"],
				"nbf":        c["nbf"],
				"sub":        aliceID,
				"aud":        testIssuer,
				"iss":        testIssuer,
				"jti":        c["jti"],
				"sid":        c["sid"],
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("introspection\n got %v\nwant %v", got, want)
			}
		})
	}
}

// Every reason for inactive gives the same {"active":false}.
func TestIntrospectInactiveAccessToken(t *testing.T) {
	tests := []struct {
		name string
		// prepare returns the token to introspect, given a fresh login.
		prepare func(h *harness, tok tokenJSON) string
	}{
		{name: "signed by a foreign key", prepare: func(h *harness, tok tokenJSON) string {
			return signClaims(h.t, h.foreignKeys(), h.claims(tok.AccessToken), func(map[string]any) {})
		}},
		{name: "signature altered", prepare: func(h *harness, tok tokenJSON) string {
			head, _, _ := strings.Cut(tok.AccessToken, ".")
			other := h.login("")
			_, rest, _ := strings.Cut(other.AccessToken, ".")
			payload, _, _ := strings.Cut(tok.AccessToken[len(head)+1:], ".")
			_, sig, _ := strings.Cut(rest, ".")
			return head + "." + payload + "." + sig // another token's signature
		}},
		{name: "malformed", prepare: func(*harness, tokenJSON) string { return "not-a-token" }},
		{name: "JWS-shaped garbage", prepare: func(*harness, tokenJSON) string { return "e30.e30.e30" }},
		{name: "unknown refresh token", prepare: func(*harness, tokenJSON) string { t, _ := newRefreshToken(); return t }},
		{name: "expired exactly now", prepare: func(h *harness, tok tokenJSON) string {
			h.clock.Advance(defaultAccessTokenTTL)
			return tok.AccessToken
		}},
		{name: "expired long ago", prepare: func(h *harness, tok tokenJSON) string {
			h.clock.Advance(24 * time.Hour)
			return tok.AccessToken
		}},
		{name: "nbf in the future", prepare: func(h *harness, tok tokenJSON) string {
			return h.signed(tok.AccessToken, func(c map[string]any) { c["nbf"] = h.clock.Now().Add(time.Minute).Unix() })
		}},
		{name: "iat in the future", prepare: func(h *harness, tok tokenJSON) string {
			return h.signed(tok.AccessToken, func(c map[string]any) { c["iat"] = h.clock.Now().Add(time.Minute).Unix() })
		}},
		{name: "another issuer", prepare: func(h *harness, tok tokenJSON) string {
			return h.signed(tok.AccessToken, func(c map[string]any) { c["iss"] = "https://evil.example.com" })
		}},
		{name: "no jti", prepare: func(h *harness, tok tokenJSON) string {
			return h.signed(tok.AccessToken, func(c map[string]any) { delete(c, "jti") })
		}},
		{name: "no exp", prepare: func(h *harness, tok tokenJSON) string {
			return h.signed(tok.AccessToken, func(c map[string]any) { delete(c, "exp") })
		}},
		{name: "claims of the wrong type", prepare: func(h *harness, tok tokenJSON) string {
			return h.signed(tok.AccessToken, func(c map[string]any) { c["exp"] = "tomorrow" })
		}},
		{name: "revoked by jti", prepare: func(h *harness, tok tokenJSON) string {
			h.revokeEntry(store.RevokeJTI, h.claims(tok.AccessToken)["jti"].(string), time.Time{})
			return tok.AccessToken
		}},
		{name: "revoked by sid", prepare: func(h *harness, tok tokenJSON) string {
			h.revokeEntry(store.RevokeSID, h.claims(tok.AccessToken)["sid"].(string), time.Time{})
			return tok.AccessToken
		}},
		{name: "revoked by sub not-before equal to iat", prepare: func(h *harness, tok tokenJSON) string {
			h.revokeEntry(store.RevokeSub, aliceID, h.clock.Now())
			return tok.AccessToken
		}},
		{name: "revoked by sub not-before later in the same second", prepare: func(h *harness, tok tokenJSON) string {
			h.revokeEntry(store.RevokeSub, aliceID, h.clock.Now().Add(999*time.Millisecond))
			return tok.AccessToken
		}},
		// An emergency key rotation: the key is still published here (this
		// instance has not reloaded), but its tokens are refused.
		{name: "revoked by kid", prepare: func(h *harness, tok tokenJSON) string {
			h.revokeEntry(store.RevokeKID, testHeaderKID(h.t, tok.AccessToken), time.Time{})
			return tok.AccessToken
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			tok := h.login("")
			token := tt.prepare(h, tok)
			assertInactive(t, h.introspectReq(formBody("token", token), withBasic(webID, webSecret)))
		})
	}
}

// The boundaries of the inactive cases above stay active.
func TestIntrospectActiveAtTheBoundaries(t *testing.T) {
	tests := []struct {
		name    string
		prepare func(h *harness, tok tokenJSON) string
	}{
		{name: "one second before exp", prepare: func(h *harness, tok tokenJSON) string {
			h.clock.Advance(defaultAccessTokenTTL - time.Second)
			return tok.AccessToken
		}},
		{name: "nbf within the leeway", prepare: func(h *harness, tok tokenJSON) string {
			return h.signed(tok.AccessToken, func(c map[string]any) { c["nbf"] = h.clock.Now().Add(accessTokenLeeway).Unix() })
		}},
		{name: "sub revoked before iat", prepare: func(h *harness, tok tokenJSON) string {
			h.revokeEntry(store.RevokeSub, aliceID, h.clock.Now().Add(-time.Second))
			return tok.AccessToken
		}},
		{name: "another token's jti revoked", prepare: func(h *harness, tok tokenJSON) string {
			h.revokeEntry(store.RevokeJTI, h.claims(h.login("").AccessToken)["jti"].(string), time.Time{})
			return tok.AccessToken
		}},
		{name: "another session revoked", prepare: func(h *harness, tok tokenJSON) string {
			h.revokeEntry(store.RevokeSID, h.claims(h.login("").AccessToken)["sid"].(string), time.Time{})
			return tok.AccessToken
		}},
		{name: "another user revoked", prepare: func(h *harness, tok tokenJSON) string {
			h.revokeEntry(store.RevokeSub, bobID, h.clock.Now())
			return tok.AccessToken
		}},
		{name: "another key revoked", prepare: func(h *harness, tok tokenJSON) string {
			h.revokeEntry(store.RevokeKID, "some-other-kid", time.Time{})
			return tok.AccessToken
		}},
		{name: "the kid revoked as a jti", prepare: func(h *harness, tok tokenJSON) string {
			h.revokeEntry(store.RevokeJTI, testHeaderKID(h.t, tok.AccessToken), time.Time{})
			return tok.AccessToken
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			tok := h.login("")
			if !h.active(tt.prepare(h, tok)) {
				t.Error("inactive, want active")
			}
		})
	}
}

// testHeaderKID decodes the kid of a compact JWS's protected header.
func testHeaderKID(t testing.TB, token string) string {
	t.Helper()
	head, _, _ := strings.Cut(token, ".")
	raw, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		t.Fatal(err)
	}
	var hdr struct {
		Kid string `json:"kid"`
	}
	if err := json.Unmarshal(raw, &hdr); err != nil || hdr.Kid == "" {
		t.Fatalf("header %s: no kid (%v)", raw, err)
	}
	return hdr.Kid
}

// revokeEntry writes a denylist entry straight to the store, lasting an
// hour.
func (h *harness) revokeEntry(kind store.RevocationKind, value string, notBefore time.Time) {
	h.t.Helper()
	now := h.clock.Now()
	err := h.mem.Revoke(context.Background(), store.Revocation{Kind: kind, Value: value, NotBefore: notBefore,
		ExpiresAt: now.Add(time.Hour), CreatedAt: now})
	if err != nil {
		h.t.Fatal(err)
	}
}

func TestIntrospectActiveRefreshToken(t *testing.T) {
	for _, hint := range []string{"", "refresh_token", "access_token"} {
		t.Run("hint "+hint, func(t *testing.T) {
			h := newHarness(t)
			tok := h.login("read")
			sid := h.claims(tok.AccessToken)["sid"]
			var kv []string
			if hint != "" {
				kv = []string{"token_type_hint", hint}
			}
			got := h.introspectAs(webID, webSecret, tok.RefreshToken, kv...)
			now := h.clock.Now()
			want := map[string]any{
				"active":    true,
				"scope":     "read",
				"client_id": webID,
				"username":  aliceName,
				"token_use": "refresh_token",
				"exp":       float64(now.Add(defaultRefreshIdleTTL).Unix()),
				"iat":       float64(now.Unix()),
				"sub":       aliceID,
				"iss":       testIssuer,
				"sid":       sid,
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("introspection\n got %v\nwant %v", got, want)
			}
		})
	}
}

// exp is the idle expiry clamped to the session's absolute expiry.
func TestIntrospectRefreshTokenExpiryIsClamped(t *testing.T) {
	h := newHarness(t, func(_ *harness, c *Config) {
		c.RefreshIdleTTL = 10 * 24 * time.Hour
		c.RefreshAbsoluteTTL = 12 * 24 * time.Hour
	})
	tok := h.login("")
	h.clock.Advance(5 * 24 * time.Hour)
	rotated := h.mustToken(h.refresh(tok.RefreshToken))
	start := h.clock.Now().Add(-5 * 24 * time.Hour)
	got := h.introspectAs(webID, webSecret, rotated.RefreshToken)
	if want := float64(start.Add(12 * 24 * time.Hour).Unix()); got["exp"] != want {
		t.Errorf("exp = %v, want the family's absolute expiry %v", got["exp"], want)
	}
}

func TestIntrospectInactiveRefreshToken(t *testing.T) {
	tests := []struct {
		name string
		// prepare returns the refresh token to introspect and who asks.
		prepare func(h *harness, tok tokenJSON) string
		id      string
		secret  string
	}{
		{name: "asked by another client", id: mobileID, secret: mobileSecret,
			prepare: func(_ *harness, tok tokenJSON) string { return tok.RefreshToken }},
		{name: "consumed by a refresh", prepare: func(h *harness, tok tokenJSON) string {
			h.mustToken(h.refresh(tok.RefreshToken))
			return tok.RefreshToken
		}},
		{name: "family revoked", prepare: func(h *harness, tok tokenJSON) string {
			h.revokeAs(webID, webSecret, tok.RefreshToken)
			return tok.RefreshToken
		}},
		{name: "idle expiry passed", prepare: func(h *harness, tok tokenJSON) string {
			h.clock.Advance(defaultRefreshIdleTTL)
			return tok.RefreshToken
		}},
		{name: "user disabled", prepare: func(h *harness, tok tokenJSON) string {
			if err := h.mem.SetDisabled(context.Background(), aliceID, true, h.clock.Now()); err != nil {
				h.t.Fatal(err)
			}
			return tok.RefreshToken
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			tok := h.login("")
			token := tt.prepare(h, tok)
			id, secret := tt.id, tt.secret
			if id == "" {
				id, secret = webID, webSecret
			}
			assertInactive(t, h.introspectReq(formBody("token", token), withBasic(id, secret)))
		})
	}
}

func TestIntrospectAfterUserDeleted(t *testing.T) {
	h := newHarness(t)
	tok := h.login("")
	stub := stubUsers{UserStore: h.mem, userByID: func(context.Context, string) (store.User, error) {
		return store.User{}, store.ErrNotFound
	}}
	h.srv.cfg.Users = stub
	assertInactive(t, h.introspectReq(formBody("token", tok.RefreshToken), withBasic(webID, webSecret)))
}
