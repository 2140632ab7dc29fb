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
	"github.com/tokenserver/tokenserver/tokenserver/password"
)

// gatedHasher holds every hash computation until open is closed, and
// closes overflow as soon as more than limit computations have started.
type gatedHasher struct {
	passwordHasher
	limit    int64
	started  atomic.Int64
	open     chan struct{}
	overflow chan struct{}
	once     sync.Once
}

func (g *gatedHasher) enter(ctx context.Context) error {
	if g.started.Add(1) > g.limit {
		g.once.Do(func() { close(g.overflow) })
	}
	select {
	case <-g.open:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (g *gatedHasher) Hash(ctx context.Context, pw string) (string, error) {
	if err := g.enter(ctx); err != nil {
		return "", err
	}
	return g.passwordHasher.Hash(ctx, pw)
}

func (g *gatedHasher) Verify(ctx context.Context, pw, encoded string) (bool, bool, error) {
	if err := g.enter(ctx); err != nil {
		return false, false, err
	}
	return g.passwordHasher.Verify(ctx, pw, encoded)
}

func (g *gatedHasher) VerifyDummy(ctx context.Context, pw string) error {
	if err := g.enter(ctx); err != nil {
		return err
	}
	return g.passwordHasher.VerifyDummy(ctx, pw)
}

// Concurrent guesses for one user from one address: the throttle must
// count them as they start, not as they fail. The hasher holds the first
// guesses until every other request has been answered, so all 150 are in
// flight together; with a check-then-count throttle a sixth guess reaches
// the hasher, which ends the wait at once instead of hanging.
func TestPasswordGrantConcurrentGuesses(t *testing.T) {
	const attempts = 150
	h := newHarness(t)
	gate := &gatedHasher{passwordHasher: h.srv.hasher, limit: defaultUserFailures,
		open: make(chan struct{}), overflow: make(chan struct{})}
	h.srv.hasher = gate

	results := make(chan *httptest.ResponseRecorder, attempts)
	start := make(chan struct{})
	for i := range attempts {
		go func() {
			<-start
			results <- h.token(loginBody(aliceName, fmt.Sprintf("guess-%d", i)), withBasic(webID, webSecret))
		}()
	}
	close(start)

	var recs []*httptest.ResponseRecorder
	hang := time.After(30 * time.Second) // a hang detector only
	for len(recs) < attempts {
		if len(recs) == attempts-defaultUserFailures {
			// The remaining requests are the held guesses.
			closeOnce(gate.open)
		}
		select {
		case rec := <-results:
			recs = append(recs, rec)
		case <-gate.overflow:
			closeOnce(gate.open)
			gate.overflow = nil // a closed channel would spin the loop
		case <-hang:
			t.Fatalf("%d of %d answers after 30s; %d hash computations started", len(recs), attempts, gate.started.Load())
		}
	}

	byStatus := map[int]int{}
	for _, rec := range recs {
		byStatus[rec.Code]++
		switch rec.Code {
		case http.StatusBadRequest:
			assertOAuthError(t, rec, http.StatusBadRequest, CodeInvalidGrant)
		default:
			assertOAuthError(t, rec, http.StatusTooManyRequests, CodeTemporarilyUnavailable)
			assertHeader(t, rec, "Retry-After", "300")
		}
	}
	if n := gate.started.Load(); n != defaultUserFailures {
		t.Errorf("%d hash computations for %d concurrent guesses, want %d", n, attempts, defaultUserFailures)
	}
	if byStatus[http.StatusBadRequest] != defaultUserFailures || byStatus[http.StatusTooManyRequests] != attempts-defaultUserFailures {
		t.Errorf("answers by status %v, want %d invalid_grant and %d throttled",
			byStatus, defaultUserFailures, attempts-defaultUserFailures)
	}
	// The guesses were counted: the right password is refused too.
	rec := h.token(loginBody(aliceName, alicePassword), withBasic(webID, webSecret))
	assertOAuthError(t, rec, http.StatusTooManyRequests, CodeTemporarilyUnavailable)
}

// closeOnce closes ch unless it is already closed (single goroutine only).
func closeOnce(ch chan struct{}) {
	select {
	case <-ch:
	default:
		close(ch)
	}
}

// A login that fails for any reason but a wrong password gives its
// reservation back: repeating it more often than the limit is never
// throttled, and afterwards the counter is untouched.
func TestPasswordGrantReservationNotLeaked(t *testing.T) {
	unavailable := fmt.Errorf("test: %w", store.ErrUnavailable)
	tests := []struct {
		name       string
		opt        func(*harness, *Config)
		hasherErr  error
		wantStatus int
		wantCode   string
	}{
		{name: "success", wantStatus: http.StatusOK},
		{name: "hasher busy", hasherErr: password.ErrBusy,
			wantStatus: http.StatusServiceUnavailable, wantCode: CodeTemporarilyUnavailable},
		{name: "user store unavailable", opt: func(h *harness, c *Config) {
			c.Users = stubUsers{UserStore: h.mem, userByName: func(context.Context, string) (store.User, error) {
				return store.User{}, unavailable
			}}
		}, wantStatus: http.StatusServiceUnavailable, wantCode: CodeTemporarilyUnavailable},
		{name: "refresh store unavailable after the password was verified", opt: func(h *harness, c *Config) {
			c.Refresh = stubRefresh{RefreshTokenStore: h.mem, createFamily: func(context.Context, store.RefreshFamily, store.RefreshToken) error {
				return unavailable
			}}
		}, wantStatus: http.StatusServiceUnavailable, wantCode: CodeTemporarilyUnavailable},
		{name: "unknown store error", opt: func(h *harness, c *Config) {
			c.Users = stubUsers{UserStore: h.mem, userByName: func(context.Context, string) (store.User, error) {
				return store.User{}, errors.New("disk on fire")
			}}
		}, wantStatus: http.StatusInternalServerError, wantCode: CodeServerError},
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
			for range 2 * defaultUserFailures {
				rec := h.token(loginBody(aliceName, alicePassword), withBasic(webID, webSecret))
				if tt.wantStatus == http.StatusOK {
					assertTokenResponse(t, rec)
				} else {
					assertOAuthError(t, rec, tt.wantStatus, tt.wantCode)
				}
			}
			if n := h.failuresUntilThrottled(t, aliceName); n != defaultUserFailures {
				t.Errorf("%d attempts left after %d requests that were not failures, want %d",
					n, 2*defaultUserFailures, defaultUserFailures)
			}
		})
	}
}

// A success gives back only its own reservation; it does not reset the
// failures before it (as before reservations: successes never touched the
// counters).
func TestPasswordGrantSuccessDoesNotReset(t *testing.T) {
	h := newHarness(t)
	wrong := func() {
		t.Helper()
		rec := h.token(loginBody(aliceName, "wrong"), withBasic(webID, webSecret))
		assertOAuthError(t, rec, http.StatusBadRequest, CodeInvalidGrant)
	}
	for range defaultUserFailures - 1 {
		wrong()
	}
	assertTokenResponse(t, h.token(loginBody(aliceName, alicePassword), withBasic(webID, webSecret)))
	wrong()
	rec := h.token(loginBody(aliceName, alicePassword), withBasic(webID, webSecret))
	assertOAuthError(t, rec, http.StatusTooManyRequests, CodeTemporarilyUnavailable)
	assertHeader(t, rec, "Retry-After", "300")
}

// Release is called for a success and not for a wrong password; a Release
// that fails is logged and does not fail the login.
func TestPasswordGrantReleaseCalls(t *testing.T) {
	var releases atomic.Int64
	h := newHarness(t, func(h *harness, c *Config) {
		c.Throttle = stubThrottle{LoginThrottle: h.mem, release: func(context.Context, []store.ThrottleKey) error {
			releases.Add(1)
			return fmt.Errorf("test: %w", store.ErrUnavailable)
		}}
	})
	assertOAuthError(t, h.token(loginBody(aliceName, "wrong"), withBasic(webID, webSecret)), http.StatusBadRequest, CodeInvalidGrant)
	if n := releases.Load(); n != 0 {
		t.Errorf("%d Release calls for a wrong password, want 0: the failure must stay counted", n)
	}
	assertTokenResponse(t, h.token(loginBody(aliceName, alicePassword), withBasic(webID, webSecret)))
	if n := releases.Load(); n != 1 {
		t.Errorf("%d Release calls for a success, want 1", n)
	}
	if logs := h.logs.String(); !strings.Contains(logs, "releasing login throttle reservation") {
		t.Errorf("failed Release not logged: %s", logs)
	}
}
