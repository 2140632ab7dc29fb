package redis

import (
	"context"
	"errors"

	goredis "github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// tracerName is the instrumentation scope of the command spans.
const tracerName = "github.com/tokenserver/tokenserver/store/redis"

var attrSystem = attribute.String("db.system", "redis")

// tracingHook makes one client span per command (named after it: "get",
// "evalsha") and one per pipeline. Only command names are recorded, never
// arguments: they hold token ids, throttle keys built from usernames and
// client IPs, and revocation entries. Like the PostgreSQL tracer it only
// adds to a trace that exists: the relay's and the reseeder's background
// commands make no root spans.
type tracingHook struct {
	tracer trace.Tracer
}

func newTracingHook(tp trace.TracerProvider) tracingHook {
	return tracingHook{tracer: tp.Tracer(tracerName)}
}

func (h tracingHook) DialHook(next goredis.DialHook) goredis.DialHook { return next }

func (h tracingHook) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		if !trace.SpanFromContext(ctx).IsRecording() {
			return next(ctx, cmd)
		}
		name := cmd.Name()
		ctx, span := h.tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindClient))
		// Attributes only on a recording span: a sampled-out request
		// should not pay for building them.
		if span.IsRecording() {
			span.SetAttributes(attrSystem, attribute.String("db.operation", name))
		}
		err := next(ctx, cmd)
		endSpan(span, err)
		return err
	}
}

func (h tracingHook) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []goredis.Cmder) error {
		if !trace.SpanFromContext(ctx).IsRecording() {
			return next(ctx, cmds)
		}
		ctx, span := h.tracer.Start(ctx, "pipeline", trace.WithSpanKind(trace.SpanKindClient))
		if span.IsRecording() {
			names := make([]string, len(cmds))
			for i, c := range cmds {
				names[i] = c.Name()
			}
			span.SetAttributes(attrSystem, attribute.String("db.operation", "pipeline"),
				attribute.Int("db.operation.batch.size", len(cmds)),
				attribute.StringSlice("db.redis.commands", names))
		}
		err := next(ctx, cmds)
		endSpan(span, err)
		return err
	}
}

// endSpan ends span, marking a failure. A missing key (redis.Nil) is an
// answer, not a failure. The error text is not recorded: a script's error
// could quote its input.
func endSpan(span trace.Span, err error) {
	if err != nil && !errors.Is(err, goredis.Nil) {
		span.SetStatus(codes.Error, "command failed")
	}
	span.End()
}
