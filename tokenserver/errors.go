package tokenserver

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tokenserver/tokenserver/store"
	"github.com/tokenserver/tokenserver/tokenserver/password"
)

// Error codes of RFC 6749 §5.2, plus temporarily_unavailable (RFC 6749
// §4.1.2.1, registered for authorization responses and in common use at the
// token endpoint) and server_error.
//
// Throttled logins are answered with 429 Too Many Requests, Retry-After and
// the code temporarily_unavailable. §5.2 has no code for "slow down"
// (RFC 8628's slow_down means "poll less often" in the device flow), and
// invalid_grant would tell the client the credentials are wrong when they
// were never checked; temporarily_unavailable says "retry later", which is
// exactly what the client should do, and the 429 status plus Retry-After
// tell it when.
const (
	CodeInvalidRequest         = "invalid_request"
	CodeInvalidClient          = "invalid_client"
	CodeInvalidGrant           = "invalid_grant"
	CodeUnauthorizedClient     = "unauthorized_client"
	CodeUnsupportedGrantType   = "unsupported_grant_type"
	CodeInvalidScope           = "invalid_scope"
	CodeServerError            = "server_error"
	CodeTemporarilyUnavailable = "temporarily_unavailable"
)

// Retry-After values for the 503 answers.
const (
	retryAfterBusy        = 1 * time.Second
	retryAfterUnavailable = 5 * time.Second
)

// Error is an OAuth 2.0 error response (RFC 6749 §5.2). Handlers return it;
// writeError renders it. Two Errors match with errors.Is when their codes
// are equal, so callers and tests can write
// errors.Is(err, &Error{Code: CodeInvalidGrant}).
type Error struct {
	Code        string
	Description string
	cause       error
	// retryAfter, when positive, is sent as Retry-After.
	retryAfter time.Duration
	// throttled turns temporarily_unavailable into 429 instead of 503.
	throttled bool
}

func (e *Error) Error() string {
	msg := "tokenserver: " + e.Code
	if e.Description != "" {
		msg += ": " + e.Description
	}
	if e.cause != nil {
		msg += ": " + e.cause.Error()
	}
	return msg
}

// Unwrap returns the underlying cause, if any.
func (e *Error) Unwrap() error { return e.cause }

// Is reports whether target is an *Error with the same Code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

func newError(code, description string, cause error) *Error {
	return &Error{Code: code, Description: description, cause: cause}
}

func invalidRequest(description string) *Error {
	return newError(CodeInvalidRequest, description, nil)
}

// classify turns any error into the *Error to render: an *Error as is, the
// overload sentinels as temporarily_unavailable, anything else as
// server_error (the caller logs the cause).
func classify(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	switch {
	case errors.Is(err, password.ErrBusy):
		return &Error{Code: CodeTemporarilyUnavailable, Description: "the server is busy; retry later",
			cause: err, retryAfter: busyRetryAfter(err)}
	case errors.Is(err, store.ErrUnavailable):
		return &Error{Code: CodeTemporarilyUnavailable, Description: "a backing service is unavailable; retry later",
			cause: err, retryAfter: retryAfterUnavailable}
	}
	return &Error{Code: CodeServerError, Description: "internal error", cause: err}
}

// busyRetryAfter is the hasher's hint of when a slot is expected to be free
// (see password.ErrBusy), or retryAfterBusy without one. Retry-After is in
// whole seconds, so hints under a second become 1.
func busyRetryAfter(err error) time.Duration {
	var hint interface{ RetryAfter() time.Duration }
	if errors.As(err, &hint) && hint.RetryAfter() > 0 {
		return hint.RetryAfter()
	}
	return retryAfterBusy
}

// httpStatus is the one place that maps an error to its status code.
func httpStatus(e *Error, r *http.Request) int {
	switch e.Code {
	case CodeInvalidClient:
		// RFC 6749 §5.2: a client that tried the Authorization header MUST
		// get 401 with WWW-Authenticate. Otherwise 400: RFC 9110 §15.5.2
		// requires WWW-Authenticate on every 401, and a client_secret_post
		// client did not ask for HTTP authentication. A GET or HEAD (the
		// revocation endpoints) can authenticate only with Basic, so there
		// the challenge is always the right answer.
		if triedHeaderAuth(r) || r.Method == http.MethodGet || r.Method == http.MethodHead {
			return http.StatusUnauthorized
		}
		return http.StatusBadRequest
	case CodeServerError:
		return http.StatusInternalServerError
	case CodeTemporarilyUnavailable:
		if e.throttled {
			return http.StatusTooManyRequests
		}
		return http.StatusServiceUnavailable
	}
	return http.StatusBadRequest
}

// triedHeaderAuth reports whether the client sent an Authorization header.
func triedHeaderAuth(r *http.Request) bool {
	return r.Header.Get("Authorization") != ""
}

// errorBody is the JSON of RFC 6749 §5.2.
type errorBody struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

// writeError renders err as an RFC 6749 §5.2 error response. Unknown errors
// become server_error and are logged at ERROR with their cause; expected
// refusals (503 temporarily_unavailable: hashing slots full, a backing
// service down, stream limits) are logged by logRefusal, at WARN at most
// once per interval. The response never carries the cause.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	e := classify(err)
	status := httpStatus(e, r)
	recordOf(r.Context()).setError(e.Code)
	switch {
	case r.Context().Err() != nil && errors.Is(err, context.Canceled):
		// The client went away; nobody reads the answer.
		s.logger.DebugContext(r.Context(), "tokenserver: request canceled", "path", r.URL.Path)
	case status == http.StatusServiceUnavailable && e.Code == CodeTemporarilyUnavailable:
		s.logRefusal(r, e, err)
	case status >= 500:
		s.logger.ErrorContext(r.Context(), "tokenserver: request failed",
			"path", r.URL.Path, "status", status, "error", err)
	}

	h := w.Header()
	h.Set("Content-Type", "application/json")
	setNoStore(h)
	if status == http.StatusUnauthorized {
		h.Set("WWW-Authenticate", `Basic realm="tokenserver"`)
	}
	if e.retryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(retryAfterSeconds(e.retryAfter)))
	}
	body, _ := json.Marshal(errorBody{Error: e.Code, Description: sanitizeDescription(e.Description)})
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// logRefusal logs a 503 temporarily_unavailable. Overload and outages are
// conditions, not bugs: one WARN line per kind per overloadLogInterval says
// that they happen and how often (suppressed counts the refusals since the
// previous WARN line); every other refusal is logged at DEBUG only.
func (s *Server) logRefusal(r *http.Request, e *Error, err error) {
	ctx := r.Context()
	warn, suppressed := s.refusals.record(e.Description, s.now())
	if !warn {
		s.logger.DebugContext(ctx, "tokenserver: request refused", "path", r.URL.Path,
			"status", http.StatusServiceUnavailable, "reason", e.Description, "error", err)
		return
	}
	s.logger.WarnContext(ctx, "tokenserver: request refused", "path", r.URL.Path,
		"status", http.StatusServiceUnavailable, "reason", e.Description, "error", err,
		"suppressed", suppressed)
}

// setNoStore sets the headers RFC 6749 §5.1 requires on every response that
// carries tokens or credentials (and that we send on errors too).
func setNoStore(h http.Header) {
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
}

// retryAfterSeconds rounds d up to whole seconds, at least 1.
func retryAfterSeconds(d time.Duration) int {
	s := math.Ceil(d.Seconds())
	if s < 1 {
		return 1
	}
	if s > math.MaxInt32 {
		return math.MaxInt32
	}
	return int(s)
}

// sanitizeDescription enforces RFC 6749 §5.2: error_description MUST NOT
// include characters outside %x20-21 / %x23-5B / %x5D-7E. Descriptions are
// our own text, but this keeps a mistake from producing an invalid response.
func sanitizeDescription(s string) string {
	ok := true
	for i := 0; i < len(s); i++ {
		if !descriptionChar(s[i]) {
			ok = false
			break
		}
	}
	if ok {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if descriptionChar(s[i]) {
			b.WriteByte(s[i])
		} else {
			b.WriteByte('?')
		}
	}
	return b.String()
}

func descriptionChar(c byte) bool {
	return c >= 0x20 && c <= 0x7e && c != '"' && c != '\\'
}
