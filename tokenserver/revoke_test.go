package tokenserver

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokenserver/tokenserver/store"
)

func TestRevokeErrors(t *testing.T) {
	errBoom := errors.New("boom")
	tests := []struct {
		name string
		// inject replaces a store after the login, to fail the revocation.
		inject func(h *harness, c *Config)
		method string
		// body gets the login's tokens; opts the credentials.
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
		{name: "body over 64 KiB", body: func(tok tokenJSON) string { return formBody("token", strings.Repeat("a", 65<<10)) },
			opts: []reqOption{withBasic(webID, webSecret)}, wantStatus: http.StatusBadRequest, wantCode: CodeInvalidRequest},
		{name: "missing token", body: func(tokenJSON) string { return formBody("token_type_hint", "access_token") },
			opts: []reqOption{withBasic(webID, webSecret)}, wantStatus: http.StatusBadRequest, wantCode: CodeInvalidRequest},
		{name: "empty token", body: func(tokenJSON) string { return "token=" },
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
		{name: "unknown client", body: func(tok tokenJSON) string { return formBody("token", tok.AccessToken) },
			opts: []reqOption{withBasic("nobody", "x")}, wantStatus: http.StatusUnauthorized, wantCode: CodeInvalidClient},
		{name: "Bearer scheme", body: func(tok tokenJSON) string { return formBody("token", tok.AccessToken) },
			opts:       []reqOption{withHeader("Authorization", "Bearer abc")},
			wantStatus: http.StatusUnauthorized, wantCode: CodeInvalidClient},
		{name: "public client with a secret",
			body: func(tok tokenJSON) string {
				return formBody("token", tok.AccessToken, "client_id", cliID, "client_secret", "x")
			},
			wantStatus: http.StatusBadRequest, wantCode: CodeInvalidClient},
		{name: "client store unavailable", body: func(tok tokenJSON) string { return formBody("token", tok.AccessToken) },
			opts: []reqOption{withBasic(webID, webSecret)},
			inject: func(h *harness, _ *Config) {
				// A cold cache: the login above cached the registration.
				h.replaceClients(stubClients{ClientStore: h.mem, clientByID: func(context.Context, string) (store.Client, error) {
					return store.Client{}, store.ErrUnavailable
				}})
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
		{name: "family revocation unavailable", body: func(tok tokenJSON) string { return formBody("token", tok.RefreshToken) },
			opts: []reqOption{withBasic(webID, webSecret)},
			inject: func(h *harness, c *Config) {
				c.Refresh = stubRefresh{RefreshTokenStore: h.mem, revokeFamily: func(context.Context, string, time.Time) error {
					return store.ErrUnavailable
				}}
			},
			wantStatus: http.StatusServiceUnavailable, wantCode: CodeTemporarilyUnavailable},
		{name: "denylist unavailable (access token)", body: func(tok tokenJSON) string { return formBody("token", tok.AccessToken) },
			opts: []reqOption{withBasic(webID, webSecret)},
			inject: func(h *harness, c *Config) {
				c.Revocations = stubRevocations{RevocationStore: h.mem, revoke: func(context.Context, store.Revocation) error {
					return store.ErrUnavailable
				}}
			},
			wantStatus: http.StatusServiceUnavailable, wantCode: CodeTemporarilyUnavailable},
		{name: "denylist unavailable (refresh token)", body: func(tok tokenJSON) string { return formBody("token", tok.RefreshToken) },
			opts: []reqOption{withBasic(webID, webSecret)},
			inject: func(h *harness, c *Config) {
				c.Revocations = stubRevocations{RevocationStore: h.mem, revoke: func(context.Context, store.Revocation) error {
					return store.ErrUnavailable
				}}
			},
			wantStatus: http.StatusServiceUnavailable, wantCode: CodeTemporarilyUnavailable},
		{name: "denylist failure", body: func(tok tokenJSON) string { return formBody("token", tok.AccessToken) },
			opts: []reqOption{withBasic(webID, webSecret)},
			inject: func(h *harness, c *Config) {
				c.Revocations = stubRevocations{RevocationStore: h.mem, revoke: func(context.Context, store.Revocation) error {
					return errBoom
				}}
			},
			wantStatus: http.StatusInternalServerError, wantCode: CodeServerError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var published atomic.Int64
			h := newHarness(t, countPublishes(&published))
			tok := h.login("")
			if tt.inject != nil {
				tt.inject(h, &h.srv.cfg)
			}
			method := tt.method
			if method == "" {
				method = http.MethodPost
			}
			rec := h.do(method, "/revoke", tt.body(tok), tt.opts...)
			assertOAuthError(t, rec, tt.wantStatus, tt.wantCode)
			// A failed revocation changes nothing.
			if n := published.Load(); n != 0 {
				t.Errorf("%d revocations published", n)
			}
			if rs := h.activeRevocations(); len(rs) != 0 {
				t.Errorf("denylist %+v, want empty", rs)
			}
			if tt.wantStatus < 500 && !h.active(tok.AccessToken) {
				t.Error("access token inactive after a rejected revocation")
			}
		})
	}
}

func TestRevokeAccessToken(t *testing.T) {
	for _, hint := range []string{"", "access_token", "refresh_token", "id_token"} {
		t.Run("hint "+hint, func(t *testing.T) {
			h := newHarness(t)
			feed := h.subscribeFeed()
			tok := h.login("")
			claims := h.claims(tok.AccessToken)
			var kv []string
			if hint != "" {
				kv = []string{"token_type_hint", hint}
			}
			h.revokeAs(webID, webSecret, tok.AccessToken, kv...)

			if h.active(tok.AccessToken) {
				t.Error("revoked access token still active")
			}
			want := store.Revocation{
				Kind:      store.RevokeJTI,
				Value:     claims["jti"].(string),
				ExpiresAt: time.Unix(int64(claims["exp"].(float64)), 0).UTC(),
				CreatedAt: h.clock.Now(),
			}
			if got := nextPublished(t, feed); !sameRevocation(got, want) {
				t.Errorf("published %+v, want %+v", got, want)
			}
			if rs := h.activeRevocations(); len(rs) != 1 || !sameRevocation(rs[0], want) {
				t.Errorf("denylist %+v, want [%+v]", rs, want)
			}
			// Revoking an access token leaves the session alone.
			assertTokenResponse(t, h.refresh(tok.RefreshToken))
		})
	}
}

func sameRevocation(a, b store.Revocation) bool {
	return a.Kind == b.Kind && a.Value == b.Value && a.ExpiresAt.Equal(b.ExpiresAt) &&
		a.NotBefore.Equal(b.NotBefore) && a.CreatedAt.Equal(b.CreatedAt)
}

func TestRevokeRefreshTokenEndsTheSession(t *testing.T) {
	for _, hint := range []string{"", "refresh_token", "access_token"} {
		t.Run("hint "+hint, func(t *testing.T) {
			h := newHarness(t)
			feed := h.subscribeFeed()
			tok := h.login("")
			rotated := h.mustToken(h.refresh(tok.RefreshToken))
			other := h.login("") // another session of the same user
			var kv []string
			if hint != "" {
				kv = []string{"token_type_hint", hint}
			}
			h.revokeAs(webID, webSecret, rotated.RefreshToken, kv...)

			assertOAuthError(t, h.refresh(rotated.RefreshToken), http.StatusBadRequest, CodeInvalidGrant)
			for name, at := range map[string]string{"first": tok.AccessToken, "rotated": rotated.AccessToken} {
				if h.active(at) {
					t.Errorf("%s access token of the revoked session still active", name)
				}
			}
			want := store.Revocation{
				Kind:      store.RevokeSID,
				Value:     h.claims(tok.AccessToken)["sid"].(string),
				ExpiresAt: h.clock.Now().Add(defaultAccessTokenTTL),
				CreatedAt: h.clock.Now(),
			}
			if got := nextPublished(t, feed); !sameRevocation(got, want) {
				t.Errorf("published %+v, want %+v", got, want)
			}
			if !h.active(other.AccessToken) {
				t.Error("another session's access token was revoked too")
			}
			assertTokenResponse(t, h.refresh(other.RefreshToken))
		})
	}
}

// A public client authenticates with its client_id (RFC 7009 §2.1) and
// can revoke its own tokens.
func TestRevokeByPublicClient(t *testing.T) {
	h := newHarness(t)
	tok := h.loginAs(cliID, "")
	assertRevokeOK(t, h.revokeReq(formBody("token", tok.RefreshToken, "client_id", cliID)))
	rec := h.token(formBody("grant_type", "refresh_token", "refresh_token", tok.RefreshToken, "client_id", cliID))
	assertOAuthError(t, rec, http.StatusBadRequest, CodeInvalidGrant)
	if h.active(tok.AccessToken) {
		t.Error("access token of the revoked session still active")
	}
}

// The sid entry outlives the longest access token the client can hold.
func TestRevokeRefreshTokenCoversLongerClientLifetime(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	long := store.Client{ID: "long", SecretHash: HashClientSecret("long-secret"), Grants: []string{grantPassword, grantRefreshToken},
		Scopes: []string{"read"}, AccessTokenTTL: time.Hour}
	if err := h.mem.CreateClient(ctx, long); err != nil {
		t.Fatal(err)
	}
	tok := h.loginAs("long", "long-secret")
	h.revokeAs("long", "long-secret", tok.RefreshToken)
	rs := h.activeRevocations()
	if len(rs) != 1 || !rs[0].ExpiresAt.Equal(h.clock.Now().Add(time.Hour)) {
		t.Errorf("denylist %+v, want one sid entry until now+1h", rs)
	}
}

// RFC 7009 §2.2: an invalid token is answered with 200 and nothing
// changes; so is another client's token, to reveal nothing about it.
func TestRevokeWithoutEffect(t *testing.T) {
	tests := []struct {
		name string
		// prepare returns the token to present and who presents it.
		// nil opts: presented by the public client cli.
		prepare func(h *harness, tok tokenJSON) (token string, opts []reqOption)
	}{
		{name: "another client's access token", prepare: func(h *harness, tok tokenJSON) (string, []reqOption) {
			return tok.AccessToken, []reqOption{withBasic(mobileID, mobileSecret)}
		}},
		{name: "another client's refresh token", prepare: func(h *harness, tok tokenJSON) (string, []reqOption) {
			return tok.RefreshToken, []reqOption{withBasic(mobileID, mobileSecret)}
		}},
		{name: "a public client presenting a confidential client's token", prepare: func(h *harness, tok tokenJSON) (string, []reqOption) {
			return tok.RefreshToken, nil // client_id=cli added below
		}},
		{name: "unknown refresh token", prepare: func(h *harness, tok tokenJSON) (string, []reqOption) {
			other, _ := newRefreshToken()
			return other, []reqOption{withBasic(webID, webSecret)}
		}},
		{name: "garbage", prepare: func(h *harness, tok tokenJSON) (string, []reqOption) {
			return "not a token", []reqOption{withBasic(webID, webSecret)}
		}},
		{name: "JWS-shaped garbage", prepare: func(h *harness, tok tokenJSON) (string, []reqOption) {
			return "a.b.c", []reqOption{withBasic(webID, webSecret)}
		}},
		{name: "access token signed by a foreign key", prepare: func(h *harness, tok tokenJSON) (string, []reqOption) {
			return signClaims(h.t, h.foreignKeys(), h.claims(tok.AccessToken), func(map[string]any) {}),
				[]reqOption{withBasic(webID, webSecret)}
		}},
		{name: "expired access token", prepare: func(h *harness, tok tokenJSON) (string, []reqOption) {
			h.clock.Advance(defaultAccessTokenTTL)
			return tok.AccessToken, []reqOption{withBasic(webID, webSecret)}
		}},
		{name: "expired refresh token", prepare: func(h *harness, tok tokenJSON) (string, []reqOption) {
			h.clock.Advance(defaultRefreshIdleTTL)
			return tok.RefreshToken, []reqOption{withBasic(webID, webSecret)}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var published atomic.Int64
			h := newHarness(t, countPublishes(&published))
			tok := h.login("")
			token, opts := tt.prepare(h, tok)
			body := formBody("token", token)
			if opts == nil {
				body = formBody("token", token, "client_id", cliID)
			}
			assertRevokeOK(t, h.revokeReq(body, opts...))
			if n := published.Load(); n != 0 {
				t.Errorf("%d revocations published", n)
			}
			if rs := h.activeRevocations(); len(rs) != 0 {
				t.Errorf("denylist %+v, want empty", rs)
			}
			if _, fam, err := h.mem.Lookup(context.Background(), hashRefreshToken(tok.RefreshToken)); err != nil || !fam.RevokedAt.IsZero() {
				t.Errorf("family %+v, %v: want it unrevoked", fam, err)
			}
		})
	}
}

// Revoking twice answers 200 twice; a failed sid write is completed by the
// client's retry even though the family is already revoked.
func TestRevokeRetryCompletesTheRevocation(t *testing.T) {
	var fail atomic.Bool
	fail.Store(true)
	h := newHarness(t, func(h *harness, c *Config) {
		c.Revocations = stubRevocations{RevocationStore: h.mem, revoke: func(ctx context.Context, r store.Revocation) error {
			if fail.Load() {
				return store.ErrUnavailable
			}
			return h.mem.Revoke(ctx, r)
		}}
	})
	tok := h.login("")
	rec := h.revokeReq(formBody("token", tok.RefreshToken), withBasic(webID, webSecret))
	assertOAuthError(t, rec, http.StatusServiceUnavailable, CodeTemporarilyUnavailable)
	if !h.active(tok.AccessToken) {
		t.Fatal("access token inactive although the sid revocation failed")
	}
	fail.Store(false)
	h.revokeAs(webID, webSecret, tok.RefreshToken)
	h.revokeAs(webID, webSecret, tok.RefreshToken)
	if h.active(tok.AccessToken) {
		t.Error("access token still active after the retried revocation")
	}
}

// A publish failure after the durable write is logged, not an error:
// subscribers catch up when they resync.
func TestRevokePublishFailureIsNotAnError(t *testing.T) {
	h := newHarness(t, func(h *harness, c *Config) {
		c.Feed = stubFeed{RevocationFeed: h.mem, publish: func(context.Context, store.Revocation) error {
			return store.ErrUnavailable
		}}
	})
	tok := h.login("")
	h.revokeAs(webID, webSecret, tok.AccessToken)
	if h.active(tok.AccessToken) {
		t.Error("access token still active")
	}
	if !strings.Contains(h.logs.String(), "publishing a revocation failed") {
		t.Errorf("publish failure not logged:\n%s", h.logs)
	}
}
