package telemetry

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/tokenserver/tokenserver/tokenserver/password"
)

const passwordTracerName = "github.com/tokenserver/tokenserver/tokenserver/password"

// HashObserver returns the password.Observer that makes two spans per
// password check, after the fact from the hasher's times: "password queue
// wait" (waiting for a hashing slot; on refusal it carries
// password.shed_cause and an error status) and "password hash" (the hash
// itself). Neither has any attribute derived from the password or user.
// Like the store spans they only join an existing trace. Nil when t is
// nil: the hasher then observes nothing.
func (t *Tracing) HashObserver() password.Observer {
	if t == nil {
		return nil
	}
	return hashObserver{tracer: t.provider.Tracer(passwordTracerName)}
}

type hashObserver struct {
	tracer trace.Tracer
}

const (
	spanQueueWait = "password queue wait"
	spanHash      = "password hash"
)

func (o hashObserver) span(ctx context.Context, name string, start time.Time, attrs ...attribute.KeyValue) trace.Span {
	_, span := o.tracer.Start(ctx, name, trace.WithTimestamp(start), trace.WithAttributes(attrs...))
	return span
}

func (o hashObserver) Admitted(ctx context.Context, start time.Time, waited time.Duration) {
	if !trace.SpanFromContext(ctx).IsRecording() {
		return
	}
	o.span(ctx, spanQueueWait, start).End(trace.WithTimestamp(start.Add(waited)))
}

func (o hashObserver) Shed(ctx context.Context, cause string, start time.Time, waited time.Duration) {
	if !trace.SpanFromContext(ctx).IsRecording() {
		return
	}
	span := o.span(ctx, spanQueueWait, start, attribute.String("password.shed_cause", cause))
	span.SetStatus(codes.Error, "shed: "+cause)
	span.End(trace.WithTimestamp(start.Add(waited)))
}

func (o hashObserver) Hashed(ctx context.Context, start time.Time, d time.Duration) {
	if !trace.SpanFromContext(ctx).IsRecording() {
		return
	}
	o.span(ctx, spanHash, start).End(trace.WithTimestamp(start.Add(d)))
}
