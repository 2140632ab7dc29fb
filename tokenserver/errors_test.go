package tokenserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tokenserver/tokenserver/store"
	"github.com/tokenserver/tokenserver/tokenserver/password"
)

func TestWriteError(t *testing.T) {
	tests := []struct {
		name           string
		err            error
		authorization  string
		wantStatus     int
		wantCode       string
		wantRetryAfter string
		wantLevel      string // of the one log line; "" for none
	}{
		{name: "invalid_request", err: invalidRequest("x"), wantStatus: 400, wantCode: CodeInvalidRequest},
		{name: "invalid_client via body", err: errInvalidClient(), wantStatus: 400, wantCode: CodeInvalidClient},
		{name: "invalid_client via header", err: errInvalidClient(), authorization: "Basic eDp5", wantStatus: 401, wantCode: CodeInvalidClient},
		{name: "invalid_grant with header is still 400", err: errBadCredentials(), authorization: "Basic eDp5", wantStatus: 400, wantCode: CodeInvalidGrant},
		{name: "wrapped Error", err: fmt.Errorf("ctx: %w", newError(CodeInvalidScope, "s", nil)), wantStatus: 400, wantCode: CodeInvalidScope},
		{name: "hasher busy", err: fmt.Errorf("x: %w", password.ErrBusy), wantStatus: 503, wantCode: CodeTemporarilyUnavailable, wantRetryAfter: "1", wantLevel: "WARN"},
		{name: "hasher busy with a hint", err: fmt.Errorf("x: %w", busyWithHint{3200 * time.Millisecond}), wantStatus: 503, wantCode: CodeTemporarilyUnavailable, wantRetryAfter: "4", wantLevel: "WARN"},
		{name: "hasher busy with a short hint", err: busyWithHint{25 * time.Millisecond}, wantStatus: 503, wantCode: CodeTemporarilyUnavailable, wantRetryAfter: "1", wantLevel: "WARN"},
		{name: "hasher busy with no hint", err: busyWithHint{0}, wantStatus: 503, wantCode: CodeTemporarilyUnavailable, wantRetryAfter: "1", wantLevel: "WARN"},
		{name: "store unavailable", err: fmt.Errorf("x: %w", store.ErrUnavailable), wantStatus: 503, wantCode: CodeTemporarilyUnavailable, wantRetryAfter: "5", wantLevel: "WARN"},
		{name: "stream limit", err: &Error{Code: CodeTemporarilyUnavailable, Description: "too many revocation streams; retry later", retryAfter: retryAfterStreams},
			wantStatus: 503, wantCode: CodeTemporarilyUnavailable, wantRetryAfter: "5", wantLevel: "WARN"},
		{name: "throttled", err: &Error{Code: CodeTemporarilyUnavailable, retryAfter: 1500 * time.Millisecond, throttled: true},
			wantStatus: 429, wantCode: CodeTemporarilyUnavailable, wantRetryAfter: "2"},
		{name: "unknown", err: errors.New("kaboom"), wantStatus: 500, wantCode: CodeServerError, wantLevel: "ERROR"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logs := &captureHandler{}
			h := newHarness(t, withCapturedLogs(logs))
			logs.take() // whatever New logged
			r := httptest.NewRequest(http.MethodPost, "/token", nil)
			if tt.authorization != "" {
				r.Header.Set("Authorization", tt.authorization)
			}
			rec := httptest.NewRecorder()
			h.srv.writeError(rec, r, tt.err)
			assertOAuthError(t, rec, tt.wantStatus, tt.wantCode)
			assertHeader(t, rec, "Retry-After", tt.wantRetryAfter)
			var levels []string
			for _, rec := range logs.take() {
				levels = append(levels, rec.Level.String())
			}
			if want := []string{tt.wantLevel}; tt.wantLevel == "" && len(levels) != 0 ||
				tt.wantLevel != "" && !slices.Equal(levels, want) {
				t.Errorf("logged at %v, want %q", levels, tt.wantLevel)
			}
			if strings.Contains(rec.Body.String(), "kaboom") {
				t.Error("cause leaked into the response")
			}
		})
	}
}

// busyWithHint is an ErrBusy with the retry hint a password.Hasher attaches.
type busyWithHint struct{ retryAfter time.Duration }

func (b busyWithHint) Error() string             { return "busy" }
func (b busyWithHint) Unwrap() error             { return password.ErrBusy }
func (b busyWithHint) RetryAfter() time.Duration { return b.retryAfter }

func TestRefusalsLogAtWarnOncePerInterval(t *testing.T) {
	logs := &captureHandler{}
	h := newHarness(t, withCapturedLogs(logs))
	logs.take()
	busy := fmt.Errorf("x: %w", password.ErrBusy)
	down := fmt.Errorf("x: %w", store.ErrUnavailable)
	refuse := func(err error) slog.Record {
		t.Helper()
		rec := httptest.NewRecorder()
		h.srv.writeError(rec, httptest.NewRequest(http.MethodPost, "/token", nil), err)
		if rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("status %d, want 503", rec.Code)
		}
		got := logs.take()
		if len(got) != 1 {
			t.Fatalf("%d log records for one refusal, want 1", len(got))
		}
		return got[0]
	}
	// Each step advances the clock by after, refuses once with err and
	// expects a record at level, with the suppressed count for WARN lines.
	steps := []struct {
		name           string
		after          time.Duration
		err            error
		wantLevel      slog.Level
		wantSuppressed int64
	}{
		{"first busy", 0, busy, slog.LevelWarn, 0},
		{"busy again at once", 0, busy, slog.LevelDebug, 0},
		{"busy 1s later", time.Second, busy, slog.LevelDebug, 0},
		{"first outage is its own kind", time.Second, down, slog.LevelWarn, 0},
		{"busy 9.999s after its WARN", 7999 * time.Millisecond, busy, slog.LevelDebug, 0},
		{"busy 10s after its WARN: summary", time.Millisecond, busy, slog.LevelWarn, 3},
		{"outage within its interval", 0, down, slog.LevelDebug, 0},
		{"busy right after the summary", 0, busy, slog.LevelDebug, 0},
		{"busy long after: summary of one", time.Hour, busy, slog.LevelWarn, 1},
		{"outage long after: summary of one", 0, down, slog.LevelWarn, 1},
	}
	for _, st := range steps {
		h.clock.Advance(st.after)
		r := refuse(st.err)
		if r.Level != st.wantLevel {
			t.Fatalf("%s: level %s, want %s", st.name, r.Level, st.wantLevel)
		}
		if r.Level >= slog.LevelError {
			t.Fatalf("%s: an expected refusal logged at %s", st.name, r.Level)
		}
		if reason, _ := attr(r, "reason"); reason.String() == "" {
			t.Errorf("%s: no reason attribute", st.name)
		}
		suppressed, ok := attr(r, "suppressed")
		if st.wantLevel == slog.LevelWarn && (!ok || suppressed.Int64() != st.wantSuppressed) {
			t.Errorf("%s: suppressed = %v (present %v), want %d", st.name, suppressed, ok, st.wantSuppressed)
		}
	}
}

func TestUnknownErrorsLogAtErrorEveryTime(t *testing.T) {
	logs := &captureHandler{}
	h := newHarness(t, withCapturedLogs(logs))
	logs.take()
	for range 3 {
		h.srv.writeError(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/token", nil), errors.New("kaboom"))
		got := logs.take()
		if len(got) != 1 || got[0].Level != slog.LevelError {
			t.Fatalf("records %v, want one ERROR per unknown error", got)
		}
		if e, _ := attr(got[0], "error"); !strings.Contains(e.String(), "kaboom") {
			t.Errorf("error attribute %q lacks the cause", e)
		}
	}
}

func TestWriteErrorCanceledRequestIsNotAnError(t *testing.T) {
	h := newHarness(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := httptest.NewRequest(http.MethodPost, "/token", nil).WithContext(ctx)
	h.srv.writeError(httptest.NewRecorder(), r, fmt.Errorf("x: %w", context.Canceled))
	if strings.Contains(h.logs.String(), "level=ERROR") {
		t.Errorf("canceled request logged as an error: %s", h.logs)
	}
}

func TestErrorIsComparesCode(t *testing.T) {
	err := fmt.Errorf("wrapped: %w", newError(CodeInvalidGrant, "one description", errors.New("cause")))
	if !errors.Is(err, &Error{Code: CodeInvalidGrant}) {
		t.Error("errors.Is with the same code = false")
	}
	if errors.Is(err, &Error{Code: CodeInvalidScope}) {
		t.Error("errors.Is with another code = true")
	}
	if e := newError(CodeInvalidGrant, "d", store.ErrExpired); !errors.Is(e, store.ErrExpired) {
		t.Error("Unwrap does not reach the cause")
	}
}

func TestSanitizeDescription(t *testing.T) {
	for in, want := range map[string]string{
		"plain text (ok)": "plain text (ok)",
		`quote " back \`:  "quote ? back ?",
		"tab\tnewline\n":  "tab?newline?",
		"é":               "??",
	} {
		if got := sanitizeDescription(in); got != want {
			t.Errorf("sanitizeDescription(%q) = %q, want %q", in, got, want)
		}
	}
}
