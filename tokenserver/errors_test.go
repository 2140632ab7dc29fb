package tokenserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
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
		wantLogged     bool
	}{
		{name: "invalid_request", err: invalidRequest("x"), wantStatus: 400, wantCode: CodeInvalidRequest},
		{name: "invalid_client via body", err: errInvalidClient(), wantStatus: 400, wantCode: CodeInvalidClient},
		{name: "invalid_client via header", err: errInvalidClient(), authorization: "Basic eDp5", wantStatus: 401, wantCode: CodeInvalidClient},
		{name: "invalid_grant with header is still 400", err: errBadCredentials(), authorization: "Basic eDp5", wantStatus: 400, wantCode: CodeInvalidGrant},
		{name: "wrapped Error", err: fmt.Errorf("ctx: %w", newError(CodeInvalidScope, "s", nil)), wantStatus: 400, wantCode: CodeInvalidScope},
		{name: "hasher busy", err: fmt.Errorf("x: %w", password.ErrBusy), wantStatus: 503, wantCode: CodeTemporarilyUnavailable, wantRetryAfter: "1", wantLogged: true},
		{name: "store unavailable", err: fmt.Errorf("x: %w", store.ErrUnavailable), wantStatus: 503, wantCode: CodeTemporarilyUnavailable, wantRetryAfter: "5", wantLogged: true},
		{name: "throttled", err: &Error{Code: CodeTemporarilyUnavailable, retryAfter: 1500 * time.Millisecond, throttled: true},
			wantStatus: 429, wantCode: CodeTemporarilyUnavailable, wantRetryAfter: "2"},
		{name: "unknown", err: errors.New("kaboom"), wantStatus: 500, wantCode: CodeServerError, wantLogged: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			r := httptest.NewRequest(http.MethodPost, "/token", nil)
			if tt.authorization != "" {
				r.Header.Set("Authorization", tt.authorization)
			}
			rec := httptest.NewRecorder()
			h.srv.writeError(rec, r, tt.err)
			assertOAuthError(t, rec, tt.wantStatus, tt.wantCode)
			assertHeader(t, rec, "Retry-After", tt.wantRetryAfter)
			logged := strings.Contains(h.logs.String(), "request failed")
			if logged != tt.wantLogged {
				t.Errorf("logged = %v, want %v: %s", logged, tt.wantLogged, h.logs)
			}
			if strings.Contains(rec.Body.String(), "kaboom") {
				t.Error("cause leaked into the response")
			}
		})
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
