package telemetry

import (
	"maps"
	"net/http"
	"net/http/httptest"
	"testing"

	"go.opentelemetry.io/otel/codes"
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

func spanAttrs(s tracetest.SpanStub) map[string]string {
	m := map[string]string{}
	for _, kv := range s.Attributes {
		m[string(kv.Key)] = kv.Value.Emit()
	}
	return m
}

func TestHandlerSpanAttributes(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("{}")) })
	mux.HandleFunc("GET /fail", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusEarlyHints)
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	tests := []struct {
		name, method, url string
		wantName          string
		want              map[string]string
		wantError         bool
	}{
		{"client error is not a span error", http.MethodPost, "http://auth.example:8443/token?x=1", "POST /token",
			map[string]string{"http.request.method": "POST", "http.route": "/token", "url.scheme": "http",
				"server.address": "auth.example", "http.response.status_code": "400"}, false},
		{"implicit 200, tls", http.MethodGet, "https://[::1]:443/jwks", "GET /jwks",
			map[string]string{"http.request.method": "GET", "http.route": "/jwks", "url.scheme": "https",
				"server.address": "::1", "http.response.status_code": "200"}, false},
		{"5xx after 103 early hints", http.MethodGet, "http://auth.example/fail", "GET /fail",
			map[string]string{"http.request.method": "GET", "http.route": "/fail", "url.scheme": "http",
				"server.address": "auth.example", "http.response.status_code": "503"}, true},
		{"non-standard method never names a span", "BREW", "http://auth.example/x", "HTTP",
			map[string]string{"http.request.method": "_OTHER", "url.scheme": "http",
				"server.address": "auth.example", "http.response.status_code": "404"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr, exp := newTestTracing(t)
			tr.Handler(mux).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(tt.method, tt.url, nil))
			spans := exp.GetSpans()
			if len(spans) != 1 {
				t.Fatalf("got %d spans, want 1", len(spans))
			}
			s := spans[0]
			if s.Name != tt.wantName {
				t.Errorf("name %q, want %q", s.Name, tt.wantName)
			}
			if got := spanAttrs(s); !maps.Equal(got, tt.want) {
				t.Errorf("attributes %v, want %v", got, tt.want)
			}
			if (s.Status.Code == codes.Error) != tt.wantError {
				t.Errorf("status %v, want error %v", s.Status, tt.wantError)
			}
		})
	}
}

// A request its caller did not sample makes no span, yet the handler's
// context carries the caller's trace, not sampled, so the spans below it
// are not sampled either and outgoing calls propagate the decision.
func TestHandlerSampledOutPropagates(t *testing.T) {
	tr, exp := newTestTracing(t)
	var got trace.SpanContext
	h := tr.Handler(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		got = trace.SpanContextFromContext(r.Context())
		_, child := tr.TracerProvider().Tracer("test").Start(r.Context(), "child")
		child.End()
	}))
	r := httptest.NewRequest(http.MethodPost, "/token", nil)
	r.Header.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00")
	h.ServeHTTP(httptest.NewRecorder(), r)
	if !got.IsValid() || got.IsSampled() || got.TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Errorf("handler's span context %v: want the caller's trace, not sampled", got)
	}
	if spans := exp.GetSpans(); len(spans) != 0 {
		t.Errorf("got %d spans, want none", len(spans))
	}
}

// The revocation stream flushes through http.ResponseController: the
// status-recording writer must let it reach the real writer.
func TestHandlerWriterFlushes(t *testing.T) {
	tr, _ := newTestTracing(t)
	var flushErr error
	h := tr.Handler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("event: x\n\n"))
		flushErr = http.NewResponseController(w).Flush()
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/revocations", nil))
	if flushErr != nil || !rec.Flushed {
		t.Errorf("flush error %v, flushed %v", flushErr, rec.Flushed)
	}
}
