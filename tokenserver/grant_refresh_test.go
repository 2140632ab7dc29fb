package tokenserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokenserver/tokenserver/store"
)

func TestRefreshGrantRotates(t *testing.T) {
	h := newHarness(t)
	first := h.login("read write")
	firstClaims := h.claims(first.AccessToken)
	h.clock.Advance(time.Minute)

	second := h.mustToken(h.refresh(first.RefreshToken))
	if second.RefreshToken == "" || second.RefreshToken == first.RefreshToken {
		t.Fatal("refresh token not rotated")
	}
	if second.Scope != "read write" || second.ExpiresIn != 900 {
		t.Errorf("response %+v", second)
	}
	c := h.claims(second.AccessToken)
	if c["sid"] != firstClaims["sid"] || c["sub"] != aliceID || c["jti"] == firstClaims["jti"] {
		t.Errorf("claims %v after %v", c, firstClaims)
	}
	if got, want := c["iat"], float64(h.clock.Now().Unix()); got != want {
		t.Errorf("iat = %v, want %v", got, want)
	}
	// The new token works; the old one is spent.
	assertTokenResponse(t, h.refresh(second.RefreshToken))
}

// A narrower scope on refresh narrows the access token only; the family
// keeps its scope for later refreshes (RFC 6749 §6).
func TestRefreshGrantNarrowsScope(t *testing.T) {
	h := newHarness(t)
	first := h.login("read write")
	narrowed := h.mustToken(h.refresh(first.RefreshToken, "scope", "read"))
	if narrowed.Scope != "read" || h.claims(narrowed.AccessToken)["scope"] != "read" {
		t.Errorf("narrowed scope %q", narrowed.Scope)
	}
	full := h.mustToken(h.refresh(narrowed.RefreshToken))
	if full.Scope != "read write" {
		t.Errorf("scope after narrowing = %q, want the family's %q", full.Scope, "read write")
	}
}

func TestRefreshGrantErrorsChangeNothing(t *testing.T) {
	tests := []struct {
		name string
		// send presents the login's refresh token in a failing way.
		send     func(h *harness, rt string) *httptest.ResponseRecorder
		wantCode string
	}{
		{name: "scope beyond the grant", wantCode: CodeInvalidScope,
			send: func(h *harness, rt string) *httptest.ResponseRecorder { return h.refresh(rt, "scope", "read admin") }},
		{name: "another client's token", wantCode: CodeInvalidGrant,
			send: func(h *harness, rt string) *httptest.ResponseRecorder {
				return h.token(formBody("grant_type", "refresh_token", "refresh_token", rt), withBasic(mobileID, mobileSecret))
			}},
		{name: "public client presents a confidential client's token", wantCode: CodeInvalidGrant,
			send: func(h *harness, rt string) *httptest.ResponseRecorder {
				return h.token(formBody("grant_type", "refresh_token", "refresh_token", rt, "client_id", cliID))
			}},
		{name: "unknown token", wantCode: CodeInvalidGrant,
			send: func(h *harness, rt string) *httptest.ResponseRecorder { return h.refresh(rt + "x") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			first := h.login("read write")
			assertOAuthError(t, tt.send(h, first.RefreshToken), http.StatusBadRequest, tt.wantCode)
			// Nothing changed: the token still works for its own client.
			assertTokenResponse(t, h.refresh(first.RefreshToken))
		})
	}
}

func TestRefreshGrantUserState(t *testing.T) {
	tests := []struct {
		name   string
		change func(h *harness) error
	}{
		{name: "user disabled", change: func(h *harness) error {
			return h.mem.SetDisabled(context.Background(), aliceID, true, h.clock.Now())
		}},
		{name: "user deleted", change: func(h *harness) error {
			return h.mem.DeleteUser(context.Background(), aliceID)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			first := h.login("")
			if err := tt.change(h); err != nil {
				t.Fatal(err)
			}
			assertOAuthError(t, h.refresh(first.RefreshToken), http.StatusBadRequest, CodeInvalidGrant)
		})
	}
}

func TestRefreshGrantReuseRevokesFamily(t *testing.T) {
	h := newHarness(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events, err := h.mem.Subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	first := h.login("")
	sid := h.claims(first.AccessToken)["sid"].(string)
	second := h.mustToken(h.refresh(first.RefreshToken))

	h.clock.Advance(time.Second)
	assertOAuthError(t, h.refresh(first.RefreshToken), http.StatusBadRequest, CodeInvalidGrant)
	// RFC 9700 §4.14.2: the whole family is dead, newest token included.
	assertOAuthError(t, h.refresh(second.RefreshToken), http.StatusBadRequest, CodeInvalidGrant)

	// The family's access tokens are denied too, until they cannot be valid.
	revoked, err := h.mem.IsRevoked(ctx, store.RevocationQuery{SID: sid}, h.clock.Now())
	if err != nil || !revoked {
		t.Errorf("sid not on the denylist: revoked=%v err=%v", revoked, err)
	}
	entries, err := h.mem.Active(ctx, h.clock.Now())
	if err != nil || len(entries) != 1 {
		t.Fatalf("active revocations %v, %v", entries, err)
	}
	if want := h.clock.Now().Add(defaultAccessTokenTTL); !entries[0].ExpiresAt.Equal(want) {
		t.Errorf("revocation ExpiresAt %v, want %v", entries[0].ExpiresAt, want)
	}
	published := false
	for !published {
		select {
		case ev := <-events:
			published = ev.Revocation != nil && ev.Revocation.Kind == store.RevokeSID && ev.Revocation.Value == sid
		case <-time.After(5 * time.Second):
			t.Fatal("revocation not published on the feed")
		}
	}
}

func TestRefreshGrantReuseLeeway(t *testing.T) {
	const leeway = 10 * time.Second
	withLeeway := func(_ *harness, c *Config) { c.RefreshReuseLeeway = leeway }
	tests := []struct {
		name string
		// run gets the first and second refresh tokens and returns the token
		// the family should (or should not) still honour.
		run        func(h *harness, first, second string) string
		wantFamily bool
	}{
		{name: "retry within leeway succeeds", wantFamily: true, run: func(h *harness, first, _ string) string {
			h.clock.Advance(leeway / 2)
			return h.mustToken(h.refresh(first)).RefreshToken
		}},
		{name: "retry after leeway is reuse", run: func(h *harness, first, second string) string {
			h.clock.Advance(leeway + time.Second)
			assertOAuthError(h.t, h.refresh(first), http.StatusBadRequest, CodeInvalidGrant)
			return second
		}},
		{name: "retry after the successor was used is reuse", run: func(h *harness, first, second string) string {
			third := h.mustToken(h.refresh(second)).RefreshToken
			assertOAuthError(h.t, h.refresh(first), http.StatusBadRequest, CodeInvalidGrant)
			return third
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, withLeeway)
			first := h.login("")
			second := h.mustToken(h.refresh(first.RefreshToken))
			survivor := tt.run(h, first.RefreshToken, second.RefreshToken)
			rec := h.refresh(survivor)
			if tt.wantFamily {
				assertTokenResponse(t, rec)
			} else {
				assertOAuthError(t, rec, http.StatusBadRequest, CodeInvalidGrant)
			}
		})
	}
}

func TestRefreshGrantExpiry(t *testing.T) {
	tests := []struct {
		name    string
		advance func(h *harness, rt string) string
	}{
		{name: "idle expiry", advance: func(h *harness, rt string) string {
			h.clock.Advance(defaultRefreshIdleTTL + time.Second)
			return rt
		}},
		{name: "absolute expiry", advance: func(h *harness, rt string) string {
			// Refresh inside the idle window until the family's lifetime ends.
			for elapsed := time.Duration(0); elapsed <= defaultRefreshAbsoluteTTL; elapsed += defaultRefreshIdleTTL - time.Hour {
				h.clock.Advance(defaultRefreshIdleTTL - time.Hour)
				if rec := h.refresh(rt); rec.Code == http.StatusOK {
					rt = h.mustToken(rec).RefreshToken
				} else {
					return rt
				}
			}
			return rt
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			rt := tt.advance(h, h.login("").RefreshToken)
			assertOAuthError(t, h.refresh(rt), http.StatusBadRequest, CodeInvalidGrant)
		})
	}
}

func TestRefreshGrantStoreErrors(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		wantStatus int
		wantCode   string
	}{
		{name: "unavailable", err: fmt.Errorf("test: %w", store.ErrUnavailable), wantStatus: 503, wantCode: CodeTemporarilyUnavailable},
		{name: "unknown", err: errors.New("rotate exploded"), wantStatus: 500, wantCode: CodeServerError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, func(h *harness, c *Config) {
				c.Refresh = stubRefresh{RefreshTokenStore: h.mem, rotate: func(context.Context, store.RotateRequest) (store.RefreshFamily, error) {
					return store.RefreshFamily{}, tt.err
				}}
			})
			first := h.login("")
			rec := h.refresh(first.RefreshToken)
			assertOAuthError(t, rec, tt.wantStatus, tt.wantCode)
			if strings.Contains(h.logs.String(), first.RefreshToken) {
				t.Error("refresh token logged")
			}
		})
	}
}

// Exactly one of many concurrent refreshes with one token wins; the others
// are invalid_grant, never a 5xx.
func TestRefreshGrantConcurrentRotation(t *testing.T) {
	const n = 50
	h := newHarness(t)
	rt := h.login("").RefreshToken
	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		recs  = make([]*httptest.ResponseRecorder, n)
	)
	for i := range n {
		wg.Go(func() {
			<-start
			recs[i] = h.refresh(rt)
		})
	}
	close(start)
	wg.Wait()
	ok := 0
	for _, rec := range recs {
		if rec.Code == http.StatusOK {
			ok++
			continue
		}
		assertOAuthError(t, rec, http.StatusBadRequest, CodeInvalidGrant)
	}
	if ok != 1 {
		t.Errorf("%d refreshes succeeded, want exactly 1", ok)
	}
}

// A refresh is one store call: Rotate decides everything. Neither Lookup,
// UserByID nor (with the registration cached) ClientByID is called.
func TestRefreshGrantIsOneStoreCall(t *testing.T) {
	var rotates, others atomic.Int64
	h := newHarness(t, func(h *harness, c *Config) {
		count := func() { others.Add(1) }
		c.Refresh = stubRefresh{RefreshTokenStore: h.mem,
			rotate: func(ctx context.Context, req store.RotateRequest) (store.RefreshFamily, error) {
				rotates.Add(1)
				return h.mem.Rotate(ctx, req)
			},
			lookup: func(ctx context.Context, hash string) (store.RefreshToken, store.RefreshFamily, error) {
				count()
				return h.mem.Lookup(ctx, hash)
			}}
		c.Users = stubUsers{UserStore: h.mem, userByID: func(ctx context.Context, id string) (store.User, error) {
			count()
			return h.mem.UserByID(ctx, id)
		}}
		c.Clients = stubClients{ClientStore: h.mem, clientByID: func(ctx context.Context, id string) (store.Client, error) {
			count()
			return h.mem.ClientByID(ctx, id)
		}}
	})
	rt := h.login("read write").RefreshToken
	others.Store(0)
	for _, scope := range []string{"", "read"} {
		var kv []string
		if scope != "" {
			kv = []string{"scope", scope}
		}
		rt = h.mustToken(h.refresh(rt, kv...)).RefreshToken
	}
	if r, o := rotates.Load(), others.Load(); r != 2 || o != 0 {
		t.Errorf("2 refreshes made %d Rotate calls and %d other store reads, want 2 and 0", r, o)
	}
}

// The refresh grant passes the requested scope to Rotate (nil without a
// scope parameter) and answers the store's ErrScope with invalid_scope.
func TestRefreshGrantPassesScopeToRotate(t *testing.T) {
	tests := []struct {
		name      string
		kv        []string
		wantScope []string
	}{
		{name: "no scope parameter", wantScope: nil},
		{name: "narrowed", kv: []string{"scope", "write read"}, wantScope: []string{"write", "read"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			var called bool
			h := newHarness(t, func(h *harness, c *Config) {
				c.Refresh = stubRefresh{RefreshTokenStore: h.mem,
					rotate: func(_ context.Context, req store.RotateRequest) (store.RefreshFamily, error) {
						got, called = req.Scope, true
						return store.RefreshFamily{}, fmt.Errorf("stub: %w", store.ErrScope)
					}}
			})
			rt := h.login("read write").RefreshToken
			assertOAuthError(t, h.refresh(rt, tt.kv...), http.StatusBadRequest, CodeInvalidScope)
			if !called || (got == nil) != (tt.wantScope == nil) || strings.Join(got, " ") != strings.Join(tt.wantScope, " ") {
				t.Errorf("Rotate got scope %q (nil %v), want %q (nil %v)", got, got == nil, tt.wantScope, tt.wantScope == nil)
			}
		})
	}
}

// A disabled user's refresh is refused and changes nothing: no reuse is
// detected and nothing is revoked. The session stays ended after the user
// is enabled again: disabling and enabling moved the credential epoch.
func TestRefreshGrantDisabledUserChangesNothing(t *testing.T) {
	var published atomic.Int64
	h := newHarness(t, countPublishes(&published))
	first := h.login("read")
	ctx := context.Background()
	if err := h.mem.SetDisabled(ctx, aliceID, true, h.clock.Now()); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		assertOAuthError(t, h.refresh(first.RefreshToken), http.StatusBadRequest, CodeInvalidGrant)
		// A scope beyond the grant is still reported as such.
		assertOAuthError(t, h.refresh(first.RefreshToken, "scope", "write"), http.StatusBadRequest, CodeInvalidScope)
	}
	if err := h.mem.SetDisabled(ctx, aliceID, false, h.clock.Now()); err != nil {
		t.Fatal(err)
	}
	assertOAuthError(t, h.refresh(first.RefreshToken), http.StatusBadRequest, CodeInvalidGrant)
	if n := published.Load(); n != 0 {
		t.Errorf("%d revocations published", n)
	}
	if entries, err := h.mem.Active(ctx, h.clock.Now()); err != nil || len(entries) != 0 {
		t.Errorf("denylist %v, %v; want empty", entries, err)
	}
	// A login after the enable starts a session that refreshes.
	assertTokenResponse(t, h.refresh(h.login("read").RefreshToken))
}

// A store that reports reuse without the family cannot say which session
// to deny: the grant still refuses, records nothing and logs the problem.
func TestRefreshGrantReuseWithoutFamily(t *testing.T) {
	var published atomic.Int64
	h := newHarness(t, countPublishes(&published), func(h *harness, c *Config) {
		c.Refresh = stubRefresh{RefreshTokenStore: h.mem,
			rotate: func(context.Context, store.RotateRequest) (store.RefreshFamily, error) {
				return store.RefreshFamily{}, fmt.Errorf("stub: %w", store.ErrReused)
			}}
	})
	rt := h.login("").RefreshToken
	assertOAuthError(t, h.refresh(rt), http.StatusBadRequest, CodeInvalidGrant)
	if n := published.Load(); n != 0 {
		t.Errorf("%d revocations published", n)
	}
	if entries, err := h.mem.Active(context.Background(), h.clock.Now()); err != nil || len(entries) != 0 {
		t.Errorf("denylist %v, %v; want empty", entries, err)
	}
	if !strings.Contains(h.logs.String(), "reuse reported without its session") {
		t.Errorf("not logged:\n%s", h.logs)
	}
}
