package telemetry

import (
	"net/http"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// serverTracerName is the instrumentation scope of the server spans.
const serverTracerName = "github.com/tokenserver/tokenserver/internal/telemetry"

// Attributes of a server span (OpenTelemetry HTTP semantic conventions).
const (
	attrMethod     = attribute.Key("http.request.method")
	attrRoute      = attribute.Key("http.route")
	attrScheme     = attribute.Key("url.scheme")
	attrServerAddr = attribute.Key("server.address")
	attrStatusCode = attribute.Key("http.response.status_code")
)

// Handler wraps the public handler so every request gets a server span:
// the caller's W3C traceparent is honoured (the span is its child), and
// the span is named after the route pattern ("POST /token", "GET
// /.well-known/jwks.json"), never the raw URL, so no query string reaches
// a span. Probes (/healthz, /readyz) are not traced: a kubelet would make
// a root span every few seconds. With t nil it returns h.
//
// This replaces otelhttp, which computed its request attributes and a
// metric attribute set, wrapped the body and the writer and copied the
// request for every request, sampled or not: at 10 % sampling that was
// most of tracing's per-request cost (BENCHMARKS.md, "Observability
// cost"). Here a request that is not sampled pays for the span start and
// end and one request copy; attributes and the status-recording writer are
// only for recording spans.
func (t *Tracing) Handler(h http.Handler) http.Handler {
	if t == nil {
		return h
	}
	return &serverSpans{
		next:       h,
		tracer:     t.provider.Tracer(serverTracerName),
		propagator: t.propagator,
	}
}

type serverSpans struct {
	next       http.Handler
	tracer     trace.Tracer
	propagator propagation.TextMapPropagator
}

func (s *serverSpans) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/healthz" || r.URL.Path == "/readyz" {
		s.next.ServeHTTP(w, r)
		return
	}
	ctx := s.propagator.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
	// The route is not known before the mux has run: the span starts
	// named after the method and is renamed below.
	ctx, span := s.tracer.Start(ctx, spanMethod(r.Method), trace.WithSpanKind(trace.SpanKindServer))
	defer span.End()
	// The context goes into the request even when the span is not
	// sampled: its children must see the not-sampled parent (a
	// parent-based sampler would otherwise make them roots and sample
	// them on their own), and outgoing calls propagate it.
	r = r.WithContext(ctx)
	if !span.IsRecording() {
		s.next.ServeHTTP(w, r)
		return
	}
	sw := &spanStatusWriter{ResponseWriter: w}
	s.next.ServeHTTP(sw, r)

	// The mux sets Pattern on the request it was given, which is r.
	attrs := make([]attribute.KeyValue, 0, 5)
	attrs = append(attrs, attrMethod.String(method(r.Method)))
	if route := route(r.Pattern); route != "" {
		span.SetName(spanMethod(r.Method) + " " + route)
		attrs = append(attrs, attrRoute.String(route))
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	attrs = append(attrs, attrScheme.String(scheme))
	if host := serverAddress(r.Host); host != "" {
		attrs = append(attrs, attrServerAddr.String(host))
	}
	status := sw.status
	if status == 0 {
		status = http.StatusOK
	}
	attrs = append(attrs, attrStatusCode.Int(status))
	span.SetAttributes(attrs...)
	// A server span is an error only for 5xx: a 4xx is the client's
	// mistake, answered.
	if status >= 500 {
		span.SetStatus(codes.Error, "")
	}
}

// method is the request method for the span name and attribute; a method
// outside the standard set is "_OTHER" (semantic conventions), so an
// attacker-chosen string never names a span.
func method(m string) string {
	switch m {
	case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodHead,
		http.MethodOptions, http.MethodPatch, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "_OTHER"
}

// spanMethod is method for a span name, where semantic conventions say
// "HTTP" for a method outside the standard set.
func spanMethod(m string) string {
	if m = method(m); m == "_OTHER" {
		return "HTTP"
	}
	return m
}

// route is the mux pattern without its method and host: "GET
// /revocations" -> "/revocations"; "" when nothing matched.
func route(pattern string) string {
	if i := strings.IndexByte(pattern, '/'); i >= 0 {
		return pattern[i:]
	}
	return ""
}

// serverAddress is the Host header without its port.
func serverAddress(host string) string {
	if strings.HasPrefix(host, "[") {
		if i := strings.IndexByte(host, ']'); i > 0 {
			return host[1:i]
		}
		return ""
	}
	if i := strings.LastIndexByte(host, ':'); i >= 0 {
		return host[:i]
	}
	return host
}

// spanStatusWriter remembers the status written. Unwrap lets
// http.ResponseController reach the real writer (the revocation stream
// flushes through it).
type spanStatusWriter struct {
	http.ResponseWriter
	status int
}

func (w *spanStatusWriter) WriteHeader(code int) {
	// 1xx responses (103 Early Hints) are not the final status.
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *spanStatusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *spanStatusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
