package tokenserver

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokenserver/tokenserver/store"
)

// replaceClients swaps the server's client store for cs behind a fresh,
// empty cache (tests that inject a failing store after the harness has
// authenticated, and so cached, a client).
func (h *harness) replaceClients(cs store.ClientStore) {
	h.srv.cfg.Clients = cs
	h.srv.clients = newClientCache(cs, h.srv.cfg.ClientCacheTTL, h.srv.now)
}

// len reports the number of cached entries.
func (c *clientCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.entries)
}

// countClientLookups wraps the memory store's ClientByID with a counter and,
// when fail is set, an injected error.
func countClientLookups(calls *atomic.Int64, fail *atomic.Pointer[error]) func(*harness, *Config) {
	return func(h *harness, c *Config) {
		c.Clients = stubClients{ClientStore: h.mem, clientByID: func(ctx context.Context, id string) (store.Client, error) {
			calls.Add(1)
			if err := fail.Load(); err != nil {
				return store.Client{}, *err
			}
			return h.mem.ClientByID(ctx, id)
		}}
	}
}

func TestClientCacheOneLookupWithinTTL(t *testing.T) {
	var calls atomic.Int64
	var fail atomic.Pointer[error]
	h := newHarness(t, countClientLookups(&calls, &fail))
	first := h.login("")
	if n := calls.Load(); n != 1 {
		t.Fatalf("login: %d client lookups, want 1", n)
	}
	// Every endpoint that authenticates the client shares the entry.
	rt := first.RefreshToken
	for range 3 {
		h.clock.Advance(time.Second)
		rt = h.mustToken(h.refresh(rt)).RefreshToken
	}
	if !h.active(first.AccessToken) {
		t.Fatal("introspection: access token inactive")
	}
	h.revokeAs(webID, webSecret, first.AccessToken)
	if rec := h.do(http.MethodGet, "/revocations", "", withBasic(webID, webSecret)); rec.Code != http.StatusOK {
		t.Fatalf("GET /revocations: %d %s", rec.Code, rec.Body)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("%d client lookups within the TTL, want 1", n)
	}
	// Past the TTL the registration is read again.
	h.clock.Advance(defaultClientCacheTTL)
	h.mustToken(h.refresh(rt))
	if n := calls.Load(); n != 2 {
		t.Errorf("%d client lookups after the TTL, want 2", n)
	}
}

func TestClientCacheDeletedClientStopsAfterTTL(t *testing.T) {
	h := newHarness(t)
	login := loginBody(aliceName, alicePassword)
	// batch uses the password grant only, so its logins store no session
	// that the deletion could make fail.
	assertTokenResponse(t, h.token(login, withBasic(batchID, batchSecret)))
	if err := h.mem.DeleteClient(context.Background(), batchID); err != nil {
		t.Fatal(err)
	}
	// Within the TTL the cached registration still authenticates…
	h.clock.Advance(defaultClientCacheTTL - time.Millisecond)
	assertTokenResponse(t, h.token(login, withBasic(batchID, batchSecret)))
	// …and the secret is still checked against it on every request.
	assertOAuthError(t, h.token(login, withBasic(batchID, webSecret)), http.StatusUnauthorized, CodeInvalidClient)
	// At the TTL it is read again, and the client is gone.
	h.clock.Advance(time.Millisecond)
	assertOAuthError(t, h.token(login, withBasic(batchID, batchSecret)), http.StatusUnauthorized, CodeInvalidClient)
	if n := h.srv.clients.len(); n != 0 {
		t.Errorf("%d cached clients after the deleted one was refused, want 0", n)
	}
}

// A login that would start a session for a client deleted since it was
// cached fails authentication at once and stores nothing; a user deleted
// during the login is bad credentials, not a server error.
func TestLoginOwnerDeletedDuringRequest(t *testing.T) {
	tests := []struct {
		name       string
		id, secret string
		delete     func(h *harness) error
		wantStatus int
		wantCode   string
		// wantCached: the entry is dropped either way (the next request
		// reads the registration again).
		wantCached int
	}{
		{name: "client deleted within the cache TTL", id: mobileID, secret: mobileSecret,
			delete:     func(h *harness) error { return h.mem.DeleteClient(context.Background(), mobileID) },
			wantStatus: http.StatusUnauthorized, wantCode: CodeInvalidClient, wantCached: 0},
		{name: "user deleted during the password check", id: webID, secret: webSecret,
			delete: func(h *harness) error {
				// Deleted after UserByName, before CreateFamily.
				h.srv.cfg.Refresh = stubRefresh{RefreshTokenStore: h.mem,
					createFamily: func(ctx context.Context, f store.RefreshFamily, tok store.RefreshToken) error {
						if err := h.mem.DeleteUser(ctx, aliceID); err != nil {
							return err
						}
						return h.mem.CreateFamily(ctx, f, tok)
					}}
				return nil
			},
			wantStatus: http.StatusBadRequest, wantCode: CodeInvalidGrant, wantCached: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			login := loginBody(aliceName, alicePassword)
			assertTokenResponse(t, h.token(login, withBasic(tt.id, tt.secret)))
			if err := tt.delete(h); err != nil {
				t.Fatal(err)
			}
			rec := h.token(login, withBasic(tt.id, tt.secret))
			assertOAuthError(t, rec, tt.wantStatus, tt.wantCode)
			if n := h.srv.clients.len(); n != tt.wantCached {
				t.Errorf("%d cached clients, want %d", n, tt.wantCached)
			}
			if strings.Contains(h.logs.String(), "level=ERROR") {
				t.Errorf("logged as a server error:\n%s", h.logs)
			}
		})
	}
}

func TestClientCacheSkipsUnknownClientsAndErrors(t *testing.T) {
	unavailable := error(fmt.Errorf("test: %w", store.ErrUnavailable))
	var calls atomic.Int64
	var fail atomic.Pointer[error]
	h := newHarness(t, countClientLookups(&calls, &fail))
	login := loginBody(aliceName, alicePassword)

	// Unknown client_ids are looked up every time and never stored, so
	// cycling them cannot fill the cache.
	for i := range 5 {
		assertOAuthError(t, h.token(login, withBasic(fmt.Sprintf("nobody-%d", i%2), "x")), http.StatusUnauthorized, CodeInvalidClient)
	}
	if n := calls.Load(); n != 5 {
		t.Errorf("%d lookups for 5 unknown-client requests, want 5", n)
	}
	if n := h.srv.clients.len(); n != 0 {
		t.Errorf("%d cached entries after unknown clients, want 0", n)
	}

	// A store error is not remembered either: the next request succeeds.
	fail.Store(&unavailable)
	assertOAuthError(t, h.token(login, withBasic(webID, webSecret)), http.StatusServiceUnavailable, CodeTemporarilyUnavailable)
	fail.Store(nil)
	assertTokenResponse(t, h.token(login, withBasic(webID, webSecret)))
	if n := h.srv.clients.len(); n != 1 {
		t.Errorf("%d cached entries, want 1 (web)", n)
	}
}

func TestClientCacheDisabled(t *testing.T) {
	var calls atomic.Int64
	var fail atomic.Pointer[error]
	h := newHarness(t, countClientLookups(&calls, &fail), func(_ *harness, c *Config) { c.ClientCacheTTL = -1 })
	login := loginBody(aliceName, alicePassword)
	for range 3 {
		assertTokenResponse(t, h.token(login, withBasic(webID, webSecret)))
	}
	if n := calls.Load(); n != 3 {
		t.Errorf("%d lookups with the cache disabled, want 3", n)
	}
	if n := h.srv.clients.len(); n != 0 {
		t.Errorf("%d cached entries with the cache disabled, want 0", n)
	}
}

// The cache never holds more than its bound: on overflow it starts over.
func TestClientCacheBounded(t *testing.T) {
	const bound = 4
	ctx := context.Background()
	clock := &testClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	mem := newHarness(t).mem
	id := func(i int) string { return fmt.Sprintf("c%d", i) }
	for i := range 3 * bound {
		if err := mem.CreateClient(ctx, store.Client{ID: id(i)}); err != nil {
			t.Fatal(err)
		}
	}
	c := newClientCache(mem, time.Minute, clock.Now)
	c.max = bound
	lookup := func(i int) {
		t.Helper()
		got, err := c.ClientByID(ctx, id(i))
		if err != nil || got.ID != id(i) {
			t.Fatalf("ClientByID(%s) = %q, %v", id(i), got.ID, err)
		}
	}
	for i := range bound {
		lookup(i)
	}
	if n := c.len(); n != bound {
		t.Fatalf("%d entries after %d clients, want %d", n, bound, bound)
	}
	// An expired entry is refreshed in place: no overflow.
	clock.Advance(time.Minute)
	lookup(0)
	if n := c.len(); n != bound {
		t.Fatalf("%d entries after refreshing one, want %d", n, bound)
	}
	// One more client overflows: the cache starts over with it.
	lookup(bound)
	if n := c.len(); n != 1 {
		t.Fatalf("%d entries after overflow, want 1", n)
	}
	for i := bound + 1; i < 3*bound; i++ {
		lookup(i)
		if n := c.len(); n < 1 || n > bound {
			t.Fatalf("after client %d: %d entries, want 1..%d", i, n, bound)
		}
	}
}
