package adminhttp

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/tokenserver/tokenserver/admin"
	"github.com/tokenserver/tokenserver/store"
	"github.com/tokenserver/tokenserver/tokenserver/password"
)

// ProblemBase prefixes every problem type URI. The URIs are identifiers
// (RFC 9457 §3.1.1): stable, documented in the OpenAPI document; they need
// not resolve.
const ProblemBase = "https://tokenserver.dev/problems/"

// Problem types.
const (
	TypeValidation       = ProblemBase + "validation"
	TypeMalformed        = ProblemBase + "malformed-request"
	TypeUnsupportedMedia = ProblemBase + "unsupported-media-type"
	TypeTooLarge         = ProblemBase + "request-too-large"
	TypeUnauthorized     = ProblemBase + "unauthorized"
	TypeForbidden        = ProblemBase + "forbidden"
	TypeNotFound         = ProblemBase + "not-found"
	TypeExists           = ProblemBase + "exists"
	TypeConflict         = ProblemBase + "conflict"
	TypeUnavailable      = ProblemBase + "unavailable"
	TypeNotSupported     = ProblemBase + "not-supported"
	TypeInternal         = ProblemBase + "internal"
)

// problem is an RFC 9457 problem details object.
type problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
	// Field names the refused request field of a validation problem (an
	// extension member, RFC 9457 §3.2).
	Field string `json:"field,omitempty"`
	// retryAfter, when positive, is sent as Retry-After.
	retryAfter time.Duration
	// wwwAuthenticate is the challenge of a 401/403 (RFC 6750 §3).
	wwwAuthenticate string
}

func (p *problem) Error() string { return p.Title + ": " + p.Detail }

func newProblem(status int, typ, title, detail string) *problem {
	return &problem{Type: typ, Title: title, Status: status, Detail: detail}
}

// toProblem maps a service error to its problem.
func toProblem(err error) *problem {
	var p *problem
	var ve *admin.ValidationError
	var busy interface{ RetryAfter() time.Duration }
	switch {
	case errors.As(err, &p):
		return p
	case errors.As(err, &ve):
		p = newProblem(http.StatusUnprocessableEntity, TypeValidation, "Invalid request field", ve.Detail)
		p.Field = ve.Field
		return p
	case errors.Is(err, admin.ErrNotFound):
		return newProblem(http.StatusNotFound, TypeNotFound, "Not found", err.Error())
	case errors.Is(err, admin.ErrExists):
		return newProblem(http.StatusConflict, TypeExists, "Already exists", err.Error())
	case errors.Is(err, admin.ErrState):
		return newProblem(http.StatusConflict, TypeConflict, "Not possible now", err.Error())
	case errors.Is(err, admin.ErrUnsupported):
		return newProblem(http.StatusNotImplemented, TypeNotSupported, "Not supported by the configured store", err.Error())
	case errors.Is(err, password.ErrBusy):
		p = newProblem(http.StatusServiceUnavailable, TypeUnavailable, "Temporarily unavailable", "the password hasher is busy")
		p.retryAfter = time.Second
		if errors.As(err, &busy) {
			p.retryAfter = max(busy.RetryAfter(), time.Second)
		}
		return p
	case errors.Is(err, store.ErrUnavailable):
		p = newProblem(http.StatusServiceUnavailable, TypeUnavailable, "Temporarily unavailable", "a backing store cannot be reached")
		p.retryAfter = 5 * time.Second
		return p
	}
	return newProblem(http.StatusInternalServerError, TypeInternal, "Internal error", "")
}

// writeProblem writes p as application/problem+json (RFC 9457 §3).
func writeProblem(w http.ResponseWriter, r *http.Request, logger *slog.Logger, err error) {
	p := toProblem(err)
	if p.Status >= 500 {
		logger.ErrorContext(r.Context(), "admin api: request failed", "method", r.Method, "path", r.URL.Path, "error", err)
	}
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("Cache-Control", "no-store")
	if p.wwwAuthenticate != "" {
		h.Set("WWW-Authenticate", p.wwwAuthenticate)
	}
	if p.retryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(int((p.retryAfter+time.Second-1)/time.Second)))
	}
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

// writeJSON writes a successful response.
func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
