package telemetry

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

func newTestTracing(t *testing.T) (*Tracing, *tracetest.InMemoryExporter) {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	tr := New(exp, nil, true)
	t.Cleanup(func() { _ = tr.Shutdown(t.Context()) })
	return tr, exp
}

func TestHandlerSpans(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/token", func(http.ResponseWriter, *http.Request) {})
	mux.HandleFunc("GET /revocations", func(http.ResponseWriter, *http.Request) {})
	mux.HandleFunc("GET /healthz", func(http.ResponseWriter, *http.Request) {})
	mux.HandleFunc("GET /readyz", func(http.ResponseWriter, *http.Request) {})
	const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	tests := []struct {
		name        string
		method, url string
		traceparent string
		wantName    string // "" = no span
		wantRoute   string
	}{
		{"route from the pattern, caller's trace", http.MethodPost, "/token?password=secret", traceparent, "POST /token", "/token"},
		{"method pattern", http.MethodGet, "/revocations?x=1", "", "GET /revocations", "/revocations"},
		{"unknown path: the method alone", http.MethodGet, "/secret-looking-path?token=abc", "", "GET", ""},
		{"liveness probe untraced", http.MethodGet, "/healthz", "", "", ""},
		{"readiness probe untraced", http.MethodGet, "/readyz", traceparent, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr, exp := newTestTracing(t)
			r := httptest.NewRequest(tt.method, tt.url, nil)
			if tt.traceparent != "" {
				r.Header.Set("traceparent", tt.traceparent)
			}
			tr.Handler(mux).ServeHTTP(httptest.NewRecorder(), r)
			spans := exp.GetSpans()
			if tt.wantName == "" {
				if len(spans) != 0 {
					t.Fatalf("got %d spans, want none", len(spans))
				}
				return
			}
			if len(spans) != 1 {
				t.Fatalf("got %d spans, want 1", len(spans))
			}
			s := spans[0]
			if s.Name != tt.wantName || s.SpanKind != trace.SpanKindServer {
				t.Errorf("span %q kind %v, want %q server", s.Name, s.SpanKind, tt.wantName)
			}
			route := ""
			for _, kv := range s.Attributes {
				if kv.Key == "http.route" {
					route = kv.Value.AsString()
				}
			}
			if route != tt.wantRoute {
				t.Errorf("http.route = %q, want %q", route, tt.wantRoute)
			}
			if tt.traceparent != "" {
				if s.Parent.SpanID().String() != "00f067aa0ba902b7" || !s.Parent.IsRemote() ||
					s.SpanContext.TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" {
					t.Errorf("parent %v trace %v: the caller's traceparent was not honoured", s.Parent, s.SpanContext.TraceID())
				}
			} else if s.Parent.IsValid() {
				t.Errorf("parent %v, want a root span", s.Parent)
			}
		})
	}
}

func TestNilTracingHandlerIsTheHandler(t *testing.T) {
	var tr *Tracing
	h := http.NotFoundHandler()
	rec := httptest.NewRecorder()
	tr.Handler(h).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if rec.Code != http.StatusNotFound {
		t.Fatalf("status %d", rec.Code)
	}
}
