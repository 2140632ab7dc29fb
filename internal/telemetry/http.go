package telemetry

import (
	"net/http"
	"strings"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"
)

// Handler wraps the public handler so every request gets a server span:
// the caller's W3C traceparent is honoured (the span is its child), and
// the span is named after the route pattern ("POST /token", "GET
// /.well-known/jwks.json"), never the raw URL, so no query string reaches
// a span. Probes (/healthz, /readyz) are not traced: a kubelet would make
// a root span every few seconds. With t nil it returns h.
func (t *Tracing) Handler(h http.Handler) http.Handler {
	if t == nil {
		return h
	}
	return otelhttp.NewHandler(withRoute(h), "tokenserver",
		otelhttp.WithTracerProvider(t.provider),
		otelhttp.WithPropagators(t.propagator),
		// Request metrics are the metrics endpoint's business, not the
		// global meter's.
		otelhttp.WithMeterProvider(metricnoop.NewMeterProvider()),
		otelhttp.WithFilter(func(r *http.Request) bool {
			return r.URL.Path != "/healthz" && r.URL.Path != "/readyz"
		}),
	)
}

// withRoute sets http.route on the server span once the mux has routed the
// request (otelhttp reads the pattern only for the span name). The mux
// sets Pattern on the request it was given, which is this one.
func withRoute(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r)
		if r.Pattern == "" {
			return
		}
		// "GET /revocations" -> "/revocations": the route without the method.
		route := r.Pattern
		if i := strings.IndexByte(route, '/'); i >= 0 {
			route = route[i:]
		}
		trace.SpanFromContext(r.Context()).SetAttributes(attribute.String("http.route", route))
	})
}
