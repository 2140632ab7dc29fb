package tokenserver

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestHealthz(t *testing.T) {
	h := newHarness(t)
	rec := h.do(http.MethodGet, "/healthz", "")
	if rec.Code != http.StatusOK || rec.Body.String() != "ok\n" {
		t.Errorf("status %d body %q", rec.Code, rec.Body)
	}
}

func TestReadyz(t *testing.T) {
	ok := func(context.Context) error { return nil }
	failing := func(context.Context) error { return errors.New("db at 10.0.0.5 refused") }
	// stuck ignores its context and answers only after the test ends. The
	// test ends /readyz's wait itself (cancelling the request) once every
	// other check has been reported, so no timer decides the outcome.
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	stuck := func(context.Context) error { <-release; return nil }
	pg := func(f func(context.Context) error) ReadyCheck {
		return ReadyCheck{Name: "postgres", Check: f, Critical: true}
	}
	key := func(f func(context.Context) error) ReadyCheck {
		return ReadyCheck{Name: "signing key", Check: f, Critical: true}
	}
	rd := func(f func(context.Context) error) ReadyCheck { return ReadyCheck{Name: "redis", Check: f} }
	type outcome struct {
		name string
		ok   bool
	}
	tests := []struct {
		name       string
		checks     []ReadyCheck
		wantStatus int
		wantBody   string
		wantSeen   []outcome // in any order
		stuck      int       // checks that never answer
	}{
		{name: "no checks", wantStatus: 200, wantBody: "ok\n"},
		{name: "all pass", checks: []ReadyCheck{pg(ok), rd(ok), key(ok)}, wantStatus: 200,
			wantBody: "postgres: ok\nredis: ok\nsigning key: ok\n",
			wantSeen: []outcome{{"postgres", true}, {"redis", true}, {"signing key", true}}},
		{name: "critical fails", checks: []ReadyCheck{pg(failing), rd(ok), key(ok)}, wantStatus: 503,
			wantBody: "postgres: failed\nredis: ok\nsigning key: ok\n",
			wantSeen: []outcome{{"postgres", false}, {"redis", true}, {"signing key", true}}},
		{name: "no signing key", checks: []ReadyCheck{pg(ok), key(failing)}, wantStatus: 503,
			wantBody: "postgres: ok\nsigning key: failed\n",
			wantSeen: []outcome{{"postgres", true}, {"signing key", false}}},
		// Redis down: tokens are still issued (PostgreSQL fallback), so the
		// replica stays in the load balancer.
		{name: "non-critical fails", checks: []ReadyCheck{pg(ok), rd(failing), key(ok)}, wantStatus: 200,
			wantBody: "postgres: ok\nredis: degraded\nsigning key: ok\n",
			wantSeen: []outcome{{"postgres", true}, {"redis", false}, {"signing key", true}}},
		{name: "critical ignores its context", checks: []ReadyCheck{pg(stuck), rd(ok)}, stuck: 1, wantStatus: 503,
			wantBody: "postgres: timed out\nredis: ok\n",
			wantSeen: []outcome{{"postgres", false}, {"redis", true}}},
		{name: "non-critical ignores its context", checks: []ReadyCheck{pg(ok), rd(stuck)}, stuck: 1, wantStatus: 200,
			wantBody: "postgres: ok\nredis: timed out\n",
			wantSeen: []outcome{{"postgres", true}, {"redis", false}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var mu sync.Mutex
			var seen []outcome
			h := newHarness(t, func(_ *harness, c *Config) {
				c.Ready = tt.checks
				c.OnReadiness = func(name string, ok bool) {
					mu.Lock()
					defer mu.Unlock()
					seen = append(seen, outcome{name, ok})
					if len(seen) == len(tt.checks)-tt.stuck {
						cancel() // every answering check is in: stop waiting
					}
				}
			})
			h.srv.readyTimeout = time.Minute // a hang detector only
			rec := h.do(http.MethodGet, "/readyz", "", func(r *http.Request) { *r = *r.WithContext(ctx) })
			if rec.Code != tt.wantStatus || rec.Body.String() != tt.wantBody {
				t.Errorf("status %d body %q, want %d %q", rec.Code, rec.Body, tt.wantStatus, tt.wantBody)
			}
			if got := rec.Header().Get("Cache-Control"); got != "no-store" {
				t.Errorf("Cache-Control %q, want no-store", got)
			}
			if strings.Contains(rec.Body.String(), "10.0.0.5") {
				t.Error("check error detail leaked into the response")
			}
			// Every failure is explained in the log, by name.
			for _, line := range strings.Split(tt.wantBody, "\n") {
				name, state, _ := strings.Cut(line, ": ")
				if state == "" || state == "ok" {
					continue
				}
				if !strings.Contains(h.logs.String(), "check=\""+name+"\"") && !strings.Contains(h.logs.String(), "check="+name+" ") {
					t.Errorf("check %q (%s) is not named in the log:\n%s", name, state, h.logs)
				}
			}
			mu.Lock()
			defer mu.Unlock()
			byName := func(a, b outcome) int { return strings.Compare(a.name, b.name) }
			slices.SortFunc(seen, byName)
			slices.SortFunc(tt.wantSeen, byName)
			if !slices.Equal(seen, tt.wantSeen) {
				t.Errorf("OnReadiness saw %v, want %v", seen, tt.wantSeen)
			}
		})
	}
}

// TestReadyzDraining: after Drain, /readyz answers 503 "draining" without
// running a check, and the other endpoints keep answering.
func TestReadyzDraining(t *testing.T) {
	ran := false
	h := newHarness(t, func(_ *harness, c *Config) {
		c.Ready = []ReadyCheck{{Name: "postgres", Critical: true, Check: func(context.Context) error { ran = true; return nil }}}
	})
	if rec := h.do(http.MethodGet, "/readyz", ""); rec.Code != http.StatusOK {
		t.Fatalf("before Drain: status %d", rec.Code)
	}
	ran = false
	h.srv.Drain()
	rec := h.do(http.MethodGet, "/readyz", "")
	if rec.Code != http.StatusServiceUnavailable || rec.Body.String() != "draining\n" || rec.Header().Get("Cache-Control") != "no-store" {
		t.Errorf("draining: status %d body %q Cache-Control %q, want 503 \"draining\\n\" no-store",
			rec.Code, rec.Body, rec.Header().Get("Cache-Control"))
	}
	if ran {
		t.Error("a check ran while draining")
	}
	if rec := h.do(http.MethodGet, "/healthz", ""); rec.Code != http.StatusOK {
		t.Errorf("/healthz while draining: status %d, want 200", rec.Code)
	}
}

func TestReadyCheckConfig(t *testing.T) {
	ok := func(context.Context) error { return nil }
	tests := []struct {
		name   string
		checks []ReadyCheck
		want   string
	}{
		{name: "empty name", checks: []ReadyCheck{{Check: ok}}, want: "Ready[0]: Name"},
		{name: "newline in name", checks: []ReadyCheck{{Name: "a\nb", Check: ok}}, want: "Ready[0]: Name"},
		{name: "duplicate", checks: []ReadyCheck{{Name: "redis", Check: ok}, {Name: "redis", Check: ok}}, want: `Ready[1]: duplicate Name "redis"`},
		{name: "no func", checks: []ReadyCheck{{Name: "redis"}}, want: "Ready[0] (redis): Check required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := newHarness(t).srv.cfg
			cfg.Ready = tt.checks
			_, err := New(cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New: %v, want an error containing %q", err, tt.want)
			}
		})
	}
}
