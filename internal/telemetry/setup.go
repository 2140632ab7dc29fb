package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// DefaultServiceName is service.name unless OTEL_SERVICE_NAME or
// OTEL_RESOURCE_ATTRIBUTES say otherwise.
const DefaultServiceName = "tokenserver"

// Tracing is an enabled tracing pipeline. A nil *Tracing is tracing off:
// its TracerProvider is nil (which every Config in the module reads as "no
// tracing") and Shutdown does nothing.
type Tracing struct {
	provider   *sdktrace.TracerProvider
	propagator propagation.TextMapPropagator
}

// New returns a Tracing that exports through exp, synchronously when sync
// is set (tests: every span reaches exp when it ends), else in batches.
// Setup builds the exporter from the environment; tests pass an in-memory
// one.
func New(exp sdktrace.SpanExporter, res *resource.Resource, sync bool) *Tracing {
	opt := sdktrace.WithBatcher(exp)
	if sync {
		opt = sdktrace.WithSyncer(exp)
	}
	opts := []sdktrace.TracerProviderOption{opt}
	if res != nil {
		opts = append(opts, sdktrace.WithResource(res))
	}
	return &Tracing{
		provider: sdktrace.NewTracerProvider(opts...),
		// W3C trace context and baggage: what every OpenTelemetry SDK
		// and most proxies speak.
		propagator: propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}),
	}
}

// TracerProvider is the provider to pass to the libraries' Configs; nil
// when t is nil.
func (t *Tracing) TracerProvider() trace.TracerProvider {
	if t == nil {
		return nil
	}
	return t.provider
}

// Shutdown exports the spans still buffered and stops the pipeline.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if t == nil {
		return nil
	}
	if err := t.provider.Shutdown(ctx); err != nil {
		return fmt.Errorf("telemetry: shutdown: %w", err)
	}
	return nil
}

// Setup reads the OTEL_* environment through getenv and returns the tracing
// pipeline, or nil when tracing is off. It is off unless
// OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or
// OTEL_TRACES_EXPORTER=otlp is set; OTEL_TRACES_EXPORTER=none turns it
// off whatever else is set. The exporter is OTLP over http/protobuf, or
// gRPC with OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL=grpc; the SDK and the
// exporter read the rest of the standard variables themselves
// (OTEL_EXPORTER_OTLP_HEADERS, _TIMEOUT, _COMPRESSION, _CERTIFICATE,
// OTEL_TRACES_SAMPLER, OTEL_BSP_*, OTEL_SERVICE_NAME,
// OTEL_RESOURCE_ATTRIBUTES). Export failures are logged to logger.
func Setup(ctx context.Context, getenv func(string) string, version string, logger *slog.Logger) (*Tracing, error) {
	ec, err := readExporterConfig(getenv)
	if err != nil || !ec.on {
		return nil, err
	}
	exp, err := ec.exporter(ctx)
	if err != nil {
		return nil, fmt.Errorf("telemetry: OTLP exporter: %w", err)
	}
	res, err := resource.New(ctx,
		// Later options win: the environment overrides the default name.
		resource.WithAttributes(
			attribute.String("service.name", DefaultServiceName),
			attribute.String("service.version", version),
		),
		resource.WithFromEnv(),
		resource.WithTelemetrySDK(),
	)
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return nil, fmt.Errorf("telemetry: OTEL_RESOURCE_ATTRIBUTES: %w", err)
	}
	return New(loggingExporter{SpanExporter: exp, logger: logger}, res, false), nil
}

// OTLP protocols (OTEL_EXPORTER_OTLP_PROTOCOL).
const (
	protocolHTTP = "http/protobuf"
	protocolGRPC = "grpc"
)

// exporterConfig is what the variables that decide tracing say.
type exporterConfig struct {
	on       bool
	protocol string
	// endpoint is the URL the exporter sends to; empty: the exporter's
	// default (localhost:4318 or :4317).
	endpoint string
}

// readExporterConfig decides whether tracing is on and how to export, so
// that a setting the exporter would silently ignore (an invalid endpoint
// URL keeps the default) or not understand is refused at start instead.
func readExporterConfig(getenv func(string) string) (exporterConfig, error) {
	exporter := strings.ToLower(strings.TrimSpace(getenv("OTEL_TRACES_EXPORTER")))
	tracesEndpoint := strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
	endpoint := strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_ENDPOINT"))
	switch exporter {
	case "none":
		return exporterConfig{}, nil
	case "":
		if tracesEndpoint == "" && endpoint == "" {
			return exporterConfig{}, nil
		}
	case "otlp":
	default:
		return exporterConfig{}, fmt.Errorf("telemetry: OTEL_TRACES_EXPORTER=%q is not supported: use otlp or none", exporter)
	}
	ec := exporterConfig{on: true, protocol: protocolHTTP}
	for _, name := range []string{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"} {
		p := strings.TrimSpace(getenv(name))
		if p == "" {
			continue
		}
		if p != protocolHTTP && p != protocolGRPC {
			return exporterConfig{}, fmt.Errorf("telemetry: %s=%q is not supported: use http/protobuf or grpc", name, p)
		}
		ec.protocol = p
		break // the signal-specific setting wins
	}
	switch {
	case tracesEndpoint != "":
		// Used as is (OTLP exporter specification: the signal-specific
		// URL is complete).
		if err := checkURL("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", tracesEndpoint); err != nil {
			return exporterConfig{}, err
		}
		ec.endpoint = tracesEndpoint
	case endpoint != "":
		if err := checkURL("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint); err != nil {
			return exporterConfig{}, err
		}
		ec.endpoint = endpoint
		if ec.protocol == protocolHTTP {
			// The base URL: over HTTP the traces path is appended.
			ec.endpoint = strings.TrimSuffix(endpoint, "/") + "/v1/traces"
		}
	}
	return ec, nil
}

// exporter builds the OTLP exporter. The options given here override the
// exporter's own reading of the same variables, so getenv decides.
func (ec exporterConfig) exporter(ctx context.Context) (sdktrace.SpanExporter, error) {
	if ec.protocol == protocolGRPC {
		var opts []otlptracegrpc.Option
		if ec.endpoint != "" {
			opts = append(opts, otlptracegrpc.WithEndpointURL(ec.endpoint))
		}
		return otlptracegrpc.New(ctx, opts...)
	}
	var opts []otlptracehttp.Option
	if ec.endpoint != "" {
		opts = append(opts, otlptracehttp.WithEndpointURL(ec.endpoint))
	}
	return otlptracehttp.New(ctx, opts...)
}

func checkURL(name, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("telemetry: %s must be an http:// or https:// URL, got %q", name, raw)
	}
	return nil
}

// loggingExporter logs a failed export on the server's logger (JSON with
// --log-format json) instead of letting the SDK hand it to OpenTelemetry's
// global error handler, which writes plain text to stderr. The spans of a
// failed batch are dropped, as they would be anyway.
type loggingExporter struct {
	sdktrace.SpanExporter
	logger *slog.Logger
}

func (e loggingExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	if err := e.SpanExporter.ExportSpans(ctx, spans); err != nil {
		e.logger.Warn("trace export failed; spans dropped", "spans", len(spans), "err", err)
	}
	return nil
}
