package tokenserver

import (
	"context"
	"net/http"
	"time"
)

// Route names of RequestRecord.Route: a fixed set, so a metric label or a
// log field built from them has bounded cardinality.
const (
	RouteToken             = "token"
	RouteRevoke            = "revoke"
	RouteIntrospect        = "introspect"
	RouteRevocations       = "revocations"
	RouteRevocationsStream = "revocations_stream"
	RouteJWKS              = "jwks"
	RouteMetadata          = "metadata"
	RouteHealthz           = "healthz"
	RouteReadyz            = "readyz"
	// RouteAdmin is the admin API (/admin/v1/), served beside the token
	// server's routes and recorded through Instrument.
	RouteAdmin = "admin"
	RouteOther = "other"
)

// GrantOther is RequestRecord.GrantType for a grant_type the server does
// not implement (the raw value is attacker-chosen and unbounded).
const GrantOther = "other"

// RequestRecord is what the server learned about one request, handed to
// Config.OnRequest when the handler returns: the seam for request metrics
// and the access log. It never holds a secret, token, username or IP.
type RequestRecord struct {
	// Route is one of the Route* constants.
	Route  string
	Method string
	// Status is the HTTP status written (200 when the handler wrote a body
	// without calling WriteHeader).
	Status int
	// Duration is the wall time from the request's arrival at the server's
	// handler to the handler's return.
	Duration time.Duration
	// GrantType is set at the token endpoint once grant_type is read: one
	// of the implemented grants, or GrantOther.
	GrantType string
	// ClientID is the client that authenticated, if one did (the client id
	// of a failed authentication is not recorded: it is unverified input).
	ClientID string
	// Error is the RFC error code of an error response, if one was written.
	Error string
}

type recordKey struct{}

// recordOf returns the request's record, or nil when the request did not
// pass through instrument (no Config.OnRequest, or a test calling a handler
// directly); the setters below accept nil.
func recordOf(ctx context.Context) *RequestRecord {
	rec, _ := ctx.Value(recordKey{}).(*RequestRecord)
	return rec
}

func (rec *RequestRecord) setGrantType(g string) {
	if rec != nil {
		rec.GrantType = g
	}
}

func (rec *RequestRecord) setClientID(id string) {
	if rec != nil {
		rec.ClientID = id
	}
}

func (rec *RequestRecord) setError(code string) {
	if rec != nil {
		rec.Error = code
	}
}

// Instrument wraps a handler served beside the server's own routes (the
// admin API) so that its requests produce RequestRecords too, under route,
// one of the Route* constants. Without Config.OnRequest it returns h.
func (s *Server) Instrument(route string, h http.Handler) http.Handler { return s.instrument(route, h) }

// instrument wraps a route's handler so that every request produces one
// RequestRecord for Config.OnRequest.
func (s *Server) instrument(route string, h http.Handler) http.Handler {
	if s.cfg.OnRequest == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &RequestRecord{Route: route, Method: r.Method}
		sw := &statusWriter{ResponseWriter: w}
		h.ServeHTTP(sw, r.WithContext(context.WithValue(r.Context(), recordKey{}, rec)))
		rec.Status = sw.status
		if rec.Status == 0 {
			rec.Status = http.StatusOK
		}
		rec.Duration = time.Since(start)
		s.cfg.OnRequest(r.Context(), *rec)
	})
}

// statusWriter remembers the status written. Unwrap lets
// http.ResponseController reach the real writer (the revocation stream
// flushes through it).
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
