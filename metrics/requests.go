package metrics

import (
	"context"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tokenserver/tokenserver/tokenserver"
)

// Requests records RED metrics (rate, errors, duration) of every request
// from the server's RequestRecords (tokenserver.Config.OnRequest).
type Requests struct {
	requests      *prometheus.CounterVec
	duration      *prometheus.HistogramVec
	tokens        *prometheus.CounterVec
	tokenDuration *prometheus.HistogramVec
	// series caches the children of the four vectors (requestseries.go).
	series *requestSeries
}

// NewRequests registers the request metrics with reg.
func NewRequests(reg prometheus.Registerer) *Requests {
	r := &Requests{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "http_requests_total",
			Help: "HTTP requests answered, by route (handler), method and status code.",
		}, []string{"handler", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "http_request_duration_seconds",
			Help:    "Time from a request's arrival at its handler to the handler's return, by route.",
			Buckets: latencyBuckets(),
		}, []string{"handler"}),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "token_requests_total",
			Help: "Token endpoint requests by grant type and RFC 6749 error code (empty on success).",
		}, []string{"grant_type", "error"}),
		tokenDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "token_request_duration_seconds",
			Help:    "Token endpoint request duration by grant type.",
			Buckets: latencyBuckets(),
		}, []string{"grant_type"}),
		series: new(requestSeries),
	}
	reg.MustRegister(r.requests, r.duration, r.tokens, r.tokenDuration)
	// Successes of every grant exist from the start, so rate() and ratios
	// see a zero before the first request rather than no series.
	for _, g := range grantTypes() {
		r.tokens.WithLabelValues(g, "")
		r.tokenDuration.WithLabelValues(g)
	}
	return r
}

// Observe records one request. It has the signature of
// tokenserver.Config.OnRequest.
func (r *Requests) Observe(_ context.Context, rec tokenserver.RequestRecord) {
	route := rec.Route
	if route == "" {
		route = tokenserver.RouteOther
	}
	seconds := rec.Duration.Seconds()
	ri := routeIndex(route)
	r.requestCounter(ri, route, boundMethod(rec.Method), boundStatus(rec.Status)).Inc()
	r.durationObserver(ri, route).Observe(seconds)
	if route != tokenserver.RouteToken {
		return
	}
	grant := boundGrant(rec.GrantType)
	r.tokenCounter(grant, boundError(rec.Error)).Inc()
	r.tokenDurationObserver(grant).Observe(seconds)
}

// boundMethod keeps the method label to the standard methods (RFC 9110 §9
// and PATCH): any token is a valid method, and the raw value is chosen by
// the client.
func boundMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "other"
}

// boundStatus folds anything outside the three-digit range into 0 (never
// written by net/http, but the label must stay bounded whatever a handler
// does).
func boundStatus(code int) int {
	if code < 100 || code > 999 {
		return 0
	}
	return code
}

func grantTypes() []string {
	return []string{"password", "refresh_token", "client_credentials", tokenserver.GrantOther}
}

// boundGrant maps the record's grant type onto grantTypes; a request that
// failed before grant_type was read counts as "other".
func boundGrant(g string) string {
	switch g {
	case "password", "refresh_token", "client_credentials":
		return g
	}
	return tokenserver.GrantOther
}

// boundError keeps the error label to the RFC 6749 §5.2 codes the server
// writes (and "" for success).
func boundError(code string) string {
	switch code {
	case "", tokenserver.CodeInvalidRequest, tokenserver.CodeInvalidClient, tokenserver.CodeInvalidGrant,
		tokenserver.CodeUnauthorizedClient, tokenserver.CodeUnsupportedGrantType, tokenserver.CodeInvalidScope,
		tokenserver.CodeServerError, tokenserver.CodeTemporarilyUnavailable:
		return code
	}
	return "other"
}
