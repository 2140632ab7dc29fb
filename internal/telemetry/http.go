package telemetry

import (
	"net/http"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
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
	return otelhttp.NewHandler(h, "tokenserver",
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
