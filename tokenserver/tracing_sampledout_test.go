package tokenserver

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"

	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/embedded"

	"github.com/tokenserver/tokenserver/internal/telemetry"
)

// countingProvider counts the spans the server's own tracer starts.
type countingProvider struct {
	embedded.TracerProvider
	inner  trace.TracerProvider
	starts *atomic.Int64
}

func (p countingProvider) Tracer(name string, opts ...trace.TracerOption) trace.Tracer {
	return countingTracer{inner: p.inner.Tracer(name, opts...), starts: p.starts}
}

type countingTracer struct {
	embedded.Tracer
	inner  trace.Tracer
	starts *atomic.Int64
}

func (t countingTracer) Start(ctx context.Context, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	t.starts.Add(1)
	return t.inner.Start(ctx, name, opts...)
}

// A request whose caller sampled it out (traceparent flags 00) starts no
// grant or signing span: they could not record (the sampler decides per
// trace), and starting them is most of what tracing costs a sampled-out
// request. A sampled one starts both.
func TestSampledOutRequestStartsNoSpans(t *testing.T) {
	for _, tt := range []struct {
		name  string
		flags string
		want  int64
	}{
		{"sampled out", "00", 0},
		{"sampled", "01", 2}, // grant, sign
	} {
		t.Run(tt.name, func(t *testing.T) {
			exp := tracetest.NewInMemoryExporter()
			tr := telemetry.New(exp, nil, true)
			t.Cleanup(func() { _ = tr.Shutdown(t.Context()) })
			var starts atomic.Int64
			h := newHarness(t, func(h *harness, c *Config) {
				c.TracerProvider = countingProvider{inner: tr.TracerProvider(), starts: &starts}
				h.wrap = tr.Handler
			})
			rec := h.token(formBody("grant_type", "password", "username", aliceName, "password", alicePassword),
				withBasic(webID, webSecret),
				withHeader("traceparent", "00-"+callerTraceID+"-"+callerSpanID+"-"+tt.flags))
			if rec.Code != http.StatusOK {
				t.Fatalf("login: %d %s", rec.Code, rec.Body)
			}
			if got := starts.Load(); got != tt.want {
				t.Errorf("server spans started = %d, want %d", got, tt.want)
			}
		})
	}
}
