package telemetry

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestReadExporterConfig(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    exporterConfig
		wantErr string
	}{
		{name: "nothing set: off", env: nil, want: exporterConfig{}},
		{name: "only unrelated OTEL settings: off", env: map[string]string{"OTEL_SERVICE_NAME": "x", "OTEL_EXPORTER_OTLP_HEADERS": "a=b"}},
		{name: "generic endpoint: http with the traces path",
			env:  map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/"},
			want: exporterConfig{on: true, protocol: protocolHTTP, endpoint: "http://collector:4318/v1/traces"}},
		{name: "traces endpoint used as is and wins",
			env:  map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://a:4318", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://b/custom"},
			want: exporterConfig{on: true, protocol: protocolHTTP, endpoint: "https://b/custom"}},
		{name: "exporter otlp alone: the exporter's default endpoint",
			env:  map[string]string{"OTEL_TRACES_EXPORTER": "otlp"},
			want: exporterConfig{on: true, protocol: protocolHTTP}},
		{name: "none wins over an endpoint",
			env: map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://a:4318"}},
		{name: "grpc: the base URL without a path",
			env:  map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://a:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
			want: exporterConfig{on: true, protocol: protocolGRPC, endpoint: "http://a:4317"}},
		{name: "signal protocol wins",
			env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://a:4318", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
				"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf"},
			want: exporterConfig{on: true, protocol: protocolHTTP, endpoint: "http://a:4318/v1/traces"}},
		{name: "unsupported exporter", env: map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"}, wantErr: "OTEL_TRACES_EXPORTER"},
		{name: "unsupported protocol", env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"},
			wantErr: "OTEL_EXPORTER_OTLP_PROTOCOL"},
		{name: "endpoint without scheme", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318"},
			wantErr: "OTEL_EXPORTER_OTLP_ENDPOINT"},
		{name: "traces endpoint not a URL", env: map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://"},
			wantErr: "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readExporterConfig(envOf(tt.env))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestSetupOffIsNil(t *testing.T) {
	tr, err := Setup(t.Context(), envOf(map[string]string{"OTEL_TRACES_EXPORTER": "none"}), "v", slog.New(slog.DiscardHandler))
	if err != nil || tr != nil {
		t.Fatalf("Setup = %v, %v; want nil, nil", tr, err)
	}
	// Everything a nil Tracing hands out means "no tracing".
	if tr.TracerProvider() != nil || tr.HashObserver() != nil || tr.Shutdown(t.Context()) != nil {
		t.Fatal("a nil Tracing must hand out nils")
	}
}

func TestSetupOnNamesTheService(t *testing.T) {
	tr, err := Setup(t.Context(), envOf(map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1"}), "1.2.3", slog.New(slog.DiscardHandler))
	if err != nil || tr == nil {
		t.Fatalf("Setup = %v, %v", tr, err)
	}
	defer func() {
		ctx, cancel := context.WithCancel(t.Context())
		cancel() // nothing to flush; do not wait for the unreachable collector
		_ = tr.Shutdown(ctx)
	}()
	// The resource is the provider's: read it back through a span.
	exp := tracetest.NewInMemoryExporter()
	tr.provider.RegisterSpanProcessor(sdktrace.NewSimpleSpanProcessor(exp))
	_, span := tr.provider.Tracer("t").Start(t.Context(), "s")
	span.End()
	res := exp.GetSpans()[0].Resource
	got := map[string]string{}
	for _, kv := range res.Attributes() {
		got[string(kv.Key)] = kv.Value.Emit()
	}
	// OTEL_SERVICE_NAME is read from the process environment by the SDK;
	// tests run without it.
	if got["service.name"] != DefaultServiceName || got["service.version"] != "1.2.3" {
		t.Fatalf("resource %v, want service.name=%s service.version=1.2.3", got, DefaultServiceName)
	}
}

// failingExporter fails every export.
type failingExporter struct{ sdktrace.SpanExporter }

func (failingExporter) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error {
	return errors.New("collector unreachable")
}

func TestExportFailuresGoToTheLogger(t *testing.T) {
	var buf bytes.Buffer
	exp := loggingExporter{SpanExporter: failingExporter{}, logger: slog.New(slog.NewJSONHandler(&buf, nil))}
	if err := exp.ExportSpans(t.Context(), make([]sdktrace.ReadOnlySpan, 3)); err != nil {
		t.Fatalf("ExportSpans = %v; the SDK would hand it to otel's global handler", err)
	}
	if !strings.Contains(buf.String(), `"msg":"trace export failed; spans dropped","spans":3,"err":"collector unreachable"`) {
		t.Fatalf("log = %s", buf.String())
	}
}
