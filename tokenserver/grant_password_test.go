package tokenserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tokenserver/tokenserver/store"
	"github.com/tokenserver/tokenserver/tokenserver/password"
)

func loginBody(username, pw string) string {
	return formBody("grant_type", "password", "username", username, "password", pw)
}

func TestPasswordGrantIssuesTokens(t *testing.T) {
	h := newHarness(t)
	tok := h.login("")
	if tok.TokenType != "Bearer" || tok.ExpiresIn != 900 || tok.RefreshToken == "" || tok.AccessToken == "" {
		t.Fatalf("token response %+v", tok)
	}
	// RFC 9700 §4.14: refresh tokens are high-entropy; 32 bytes base64url.
	if len(tok.RefreshToken) != 43 {
		t.Errorf("refresh token length %d, want 43", len(tok.RefreshToken))
	}
	// Only the hash is stored.
	_, fam, err := h.mem.Lookup(context.Background(), hashRefreshToken(tok.RefreshToken))
	if err != nil {
		t.Fatalf("refresh token not stored under its hash: %v", err)
	}
	if _, _, err := h.mem.Lookup(context.Background(), tok.RefreshToken); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("refresh token stored in plain text (Lookup err %v)", err)
	}
	if fam.ClientID != webID || fam.UserID != aliceID || fam.Username != aliceName || fam.Scope != "read write admin" {
		t.Errorf("family %+v", fam)
	}
	if want := h.clock.Now().Add(defaultRefreshAbsoluteTTL); !fam.ExpiresAt.Equal(want) {
		t.Errorf("family ExpiresAt %v, want %v", fam.ExpiresAt, want)
	}
	if c := h.claims(tok.AccessToken); c["sid"] != fam.ID {
		t.Errorf("sid = %v, want family ID %q", c["sid"], fam.ID)
	}
}

func TestPasswordGrantUsernameIsCaseInsensitive(t *testing.T) {
	h := newHarness(t)
	tok := h.mustToken(h.token(loginBody("aLiCe", alicePassword), withBasic(webID, webSecret)))
	if c := h.claims(tok.AccessToken); c["sub"] != aliceID || c["username"] != aliceName {
		t.Errorf("sub %v username %v", c["sub"], c["username"])
	}
}

func TestPasswordGrantWithoutRefreshGrantIssuesNoRefreshToken(t *testing.T) {
	h := newHarness(t)
	tok := h.mustToken(h.token(loginBody(aliceName, alicePassword), withBasic(batchID, batchSecret)))
	if tok.RefreshToken != "" {
		t.Error("refresh token issued to a client without the refresh_token grant")
	}
	if c := h.claims(tok.AccessToken); c["sid"] != nil {
		t.Errorf("sid = %v without a session", c["sid"])
	}
}

// Unknown user, disabled user, wrong password and a too-long password all
// get the same answer, and each is counted as a failed login.
func TestPasswordGrantBadCredentialsLookAlike(t *testing.T) {
	tests := []struct {
		name, username, password string
		wantHashing              bool
	}{
		{name: "wrong password", username: aliceName, password: "wrong", wantHashing: true},
		{name: "unknown user", username: "mallory", password: alicePassword, wantHashing: true},
		{name: "disabled user", username: bobName, password: bobPassword, wantHashing: true},
		{name: "too long password", username: aliceName, password: strings.Repeat("x", password.MaxPasswordBytes+1)},
	}
	var bodies []string
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			hashing := h.countHashing()
			rec := h.token(loginBody(tt.username, tt.password), withBasic(webID, webSecret))
			assertOAuthError(t, rec, http.StatusBadRequest, CodeInvalidGrant)
			bodies = append(bodies, rec.Body.String())
			if got := hashing.calls.Load(); (got == 1) != tt.wantHashing || got > 1 {
				t.Errorf("%d hash computations, want hashing=%v", got, tt.wantHashing)
			}
			if wait := h.failuresUntilThrottled(t, tt.username); wait != defaultUserFailures-1 {
				t.Errorf("failure not recorded: %d more failures allowed, want %d", wait, defaultUserFailures-1)
			}
		})
	}
	for _, b := range bodies[1:] {
		if b != bodies[0] {
			t.Errorf("bodies differ: %s vs %s", b, bodies[0])
		}
	}
}

// failuresUntilThrottled counts how many more attempts the per-user key
// allows, by reserving them directly in the throttle.
func (h *harness) failuresUntilThrottled(t *testing.T, username string) int {
	t.Helper()
	name, err := loginUsername(username)
	if err != nil {
		t.Fatal(err)
	}
	keys := h.srv.loginThrottleKeys(name, grantRequest{clientIP: parseHostAddr("192.0.2.1:1234")})[:1]
	for n := 0; n < 100; n++ {
		wait, err := h.mem.Reserve(context.Background(), keys)
		if err != nil {
			t.Fatal(err)
		}
		if wait > 0 {
			return n
		}
	}
	return -1
}

func TestPasswordGrantThrottle(t *testing.T) {
	tests := []struct {
		name string
		// fail runs the failed logins that should trip the throttle.
		fail func(h *harness)
		// then is the attempt that must be throttled.
		then     string
		thenOpts []reqOption
	}{
		{
			name: "per username and IP",
			fail: func(h *harness) {
				for range defaultUserFailures {
					assertOAuthError(h.t, h.token(loginBody("ALICE", "wrong"), withBasic(webID, webSecret)), 400, CodeInvalidGrant)
				}
			},
			then: loginBody(aliceName, alicePassword),
		},
		{
			name: "per IP across usernames",
			fail: func(h *harness) {
				for i := range defaultIPFailures {
					rec := h.token(loginBody(fmt.Sprintf("user%d", i), "wrong"), withBasic(webID, webSecret))
					assertOAuthError(h.t, rec, 400, CodeInvalidGrant)
				}
			},
			then: loginBody(aliceName, alicePassword),
		},
		{
			name: "per IPv6 /64",
			fail: func(h *harness) {
				for i := range defaultIPFailures {
					rec := h.token(loginBody(fmt.Sprintf("user%d", i), "wrong"), withBasic(webID, webSecret),
						withRemoteAddr(fmt.Sprintf("[2001:db8::%x]:443", i+1)))
					assertOAuthError(h.t, rec, 400, CodeInvalidGrant)
				}
			},
			then:     loginBody(aliceName, alicePassword),
			thenOpts: []reqOption{withRemoteAddr("[2001:db8::ffff]:443")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			tt.fail(h)
			hashing := h.countHashing()
			rec := h.token(tt.then, append([]reqOption{withBasic(webID, webSecret)}, tt.thenOpts...)...)
			assertOAuthError(t, rec, http.StatusTooManyRequests, CodeTemporarilyUnavailable)
			assertHeader(t, rec, "Retry-After", "300")
			if n := hashing.calls.Load(); n != 0 {
				t.Errorf("%d hash computations while throttled", n)
			}
			// Another client address is not affected...
			other := h.token(loginBody(aliceName, alicePassword), withBasic(webID, webSecret), withRemoteAddr("198.51.100.7:1"))
			assertTokenResponse(t, other)
			// ...and the window ends.
			h.clock.Advance(defaultThrottleWindow)
			assertTokenResponse(t, h.token(tt.then, append([]reqOption{withBasic(webID, webSecret)}, tt.thenOpts...)...))
		})
	}
}

func TestPasswordGrantUpgradesWeakHash(t *testing.T) {
	h := newHarness(t)
	weak, err := password.NewHasher(password.Config{
		Params:    password.Params{Memory: 32, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16},
		AllowWeak: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	oldHash, err := weak.Hash(context.Background(), "carol-password")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	now := h.clock.Now()
	if err := h.mem.CreateUser(ctx, store.User{ID: "carol-id", Username: "carol", PasswordHash: oldHash,
		CreatedAt: now, UpdatedAt: now, PasswordChangedAt: now}); err != nil {
		t.Fatal(err)
	}
	assertTokenResponse(t, h.token(loginBody("carol", "carol-password"), withBasic(webID, webSecret)))
	u, err := h.mem.UserByID(ctx, "carol-id")
	if err != nil {
		t.Fatal(err)
	}
	if u.PasswordHash == oldHash {
		t.Fatal("weak hash not upgraded")
	}
	ok, needsRehash, err := h.hasher.Verify(ctx, "carol-password", u.PasswordHash)
	if err != nil || !ok || needsRehash {
		t.Errorf("upgraded hash: ok=%v needsRehash=%v err=%v", ok, needsRehash, err)
	}
	if !u.PasswordChangedAt.Equal(now) {
		t.Error("upgrade touched PasswordChangedAt")
	}
}

func TestPasswordGrantMalformedStoredHash(t *testing.T) {
	h := newHarness(t)
	now := h.clock.Now()
	if err := h.mem.CreateUser(context.Background(), store.User{ID: "dave-id", Username: "dave", PasswordHash: "plaintext!",
		CreatedAt: now, UpdatedAt: now, PasswordChangedAt: now}); err != nil {
		t.Fatal(err)
	}
	hashing := h.countHashing()
	assertOAuthError(t, h.token(loginBody("dave", "plaintext!"), withBasic(webID, webSecret)), 400, CodeInvalidGrant)
	if n := hashing.calls.Load(); n != 2 { // the failed Verify, then the dummy
		t.Errorf("%d hasher calls, want 2", n)
	}
	if !strings.Contains(h.logs.String(), "malformed") {
		t.Error("malformed stored hash not logged")
	}
}

func TestPasswordGrantUnavailable(t *testing.T) {
	unavailable := fmt.Errorf("test: %w", store.ErrUnavailable)
	tests := []struct {
		name       string
		opt        func(*harness, *Config)
		hasherErr  error
		wantStatus int
		wantCode   string
	}{
		{name: "hasher busy", hasherErr: password.ErrBusy, wantStatus: 503, wantCode: CodeTemporarilyUnavailable},
		{name: "user store unavailable", opt: func(h *harness, c *Config) {
			c.Users = stubUsers{UserStore: h.mem, userByName: func(context.Context, string) (store.User, error) {
				return store.User{}, unavailable
			}}
		}, wantStatus: 503, wantCode: CodeTemporarilyUnavailable},
		{name: "client store unavailable", opt: func(h *harness, c *Config) {
			c.Clients = stubClients{ClientStore: h.mem, clientByID: func(context.Context, string) (store.Client, error) {
				return store.Client{}, unavailable
			}}
		}, wantStatus: 503, wantCode: CodeTemporarilyUnavailable},
		{name: "throttle unavailable", opt: func(h *harness, c *Config) {
			c.Throttle = stubThrottle{LoginThrottle: h.mem, reserve: func(context.Context, []store.ThrottleKey) (time.Duration, error) {
				return 0, unavailable
			}}
		}, wantStatus: 503, wantCode: CodeTemporarilyUnavailable},
		{name: "refresh store unavailable", opt: func(h *harness, c *Config) {
			c.Refresh = stubRefresh{RefreshTokenStore: h.mem, createFamily: func(context.Context, store.RefreshFamily, store.RefreshToken) error {
				return unavailable
			}}
		}, wantStatus: 503, wantCode: CodeTemporarilyUnavailable},
		{name: "unknown store error", opt: func(h *harness, c *Config) {
			c.Users = stubUsers{UserStore: h.mem, userByName: func(context.Context, string) (store.User, error) {
				return store.User{}, errors.New("disk on fire")
			}}
		}, wantStatus: 500, wantCode: CodeServerError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var opts []func(*harness, *Config)
			if tt.opt != nil {
				opts = append(opts, tt.opt)
			}
			h := newHarness(t, opts...)
			if tt.hasherErr != nil {
				h.countHashing().err = tt.hasherErr
			}
			rec := h.token(loginBody(aliceName, alicePassword), withBasic(webID, webSecret))
			assertOAuthError(t, rec, tt.wantStatus, tt.wantCode)
			logs := h.logs.String()
			if strings.Contains(logs, alicePassword) || strings.Contains(logs, webSecret) {
				t.Errorf("a secret reached the log: %s", logs)
			}
			if tt.wantStatus == 500 && !strings.Contains(logs, "disk on fire") {
				t.Errorf("server_error cause not logged: %s", logs)
			}
		})
	}
}
