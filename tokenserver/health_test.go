package tokenserver

import (
	"context"
	"errors"
	"net/http"
	"strings"
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
	hanging := func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }
	stuck := func(context.Context) error { time.Sleep(time.Second); return nil }
	tests := []struct {
		name       string
		checks     []func(context.Context) error
		wantStatus int
		wantBody   string
	}{
		{name: "no checks", wantStatus: 200, wantBody: "ok\n"},
		{name: "all pass", checks: []func(context.Context) error{ok, ok}, wantStatus: 200, wantBody: "ok\n"},
		{name: "one fails", checks: []func(context.Context) error{ok, failing}, wantStatus: 503, wantBody: "check 1: failed\n"},
		// Whether the check's own ctx error or the handler's deadline is seen
		// first is a race; either way check 0 is reported.
		{name: "context deadline", checks: []func(context.Context) error{hanging, ok}, wantStatus: 503, wantBody: "check 0: "},
		{name: "check ignores its context", checks: []func(context.Context) error{ok, stuck}, wantStatus: 503, wantBody: "check 1: timed out\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, func(_ *harness, c *Config) { c.Ready = tt.checks })
			h.srv.readyTimeout = 50 * time.Millisecond
			rec := h.do(http.MethodGet, "/readyz", "")
			body := rec.Body.String()
			if rec.Code != tt.wantStatus || (body != tt.wantBody && !(strings.HasSuffix(tt.wantBody, ": ") && strings.HasPrefix(body, tt.wantBody))) {
				t.Errorf("status %d body %q, want %d %q", rec.Code, rec.Body, tt.wantStatus, tt.wantBody)
			}
			if strings.Contains(rec.Body.String(), "10.0.0.5") {
				t.Error("check error detail leaked into the response")
			}
		})
	}
}
