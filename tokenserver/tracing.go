package tokenserver

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// tracerName is the instrumentation scope of the server's own spans.
const tracerName = "github.com/tokenserver/tokenserver/tokenserver"

// Span attributes. Only these are ever set by this package: a grant type,
// an authenticated client id (a public identifier, not a secret) and an RFC
// error code. Usernames, passwords, client secrets and tokens never are.
const (
	attrGrantType = attribute.Key("oauth.grant_type")
	attrClientID  = attribute.Key("oauth.client_id")
	attrError     = attribute.Key("oauth.error")
)

// noopSpan is what startSpan returns when tracing is off: a span whose
// methods do nothing.
var noopSpan = trace.SpanFromContext(context.Background())

// newTracer returns the server's tracer, nil when tp is nil (tracing off).
func newTracer(tp trace.TracerProvider) trace.Tracer {
	if tp == nil {
		return nil
	}
	return tp.Tracer(tracerName)
}

// startSpan starts an internal span under the one in ctx. With tracing off
// it returns ctx unchanged and noopSpan, allocating nothing.
func (s *Server) startSpan(ctx context.Context, name string) (context.Context, trace.Span) {
	if s.tracer == nil || sampledOut(ctx) {
		return ctx, noopSpan
	}
	return s.tracer.Start(ctx, name)
}

// sampledOut reports whether ctx carries a span that does not record: its
// children would not record either (parent-based and trace-id-ratio
// samplers decide once per trace), so they are not started at all and a
// sampled-out request pays almost nothing for tracing. Without any span in
// ctx (a caller that did not wrap Handler) spans start as roots.
func sampledOut(ctx context.Context) bool {
	span := trace.SpanFromContext(ctx)
	return span.SpanContext().IsValid() && !span.IsRecording()
}

// startGrantSpan starts the span of one token request's grant: "grant
// password", "grant refresh_token", ... or "grant other" for a grant_type
// the server does not implement (the raw value is attacker-chosen).
func (s *Server) startGrantSpan(ctx context.Context, grantType string) (context.Context, trace.Span) {
	if s.tracer == nil || sampledOut(ctx) {
		return ctx, noopSpan
	}
	// Attributes only on a recording span: a sampled-out request should
	// not pay for building them.
	ctx, span := s.tracer.Start(ctx, "grant "+grantType)
	if span.IsRecording() {
		span.SetAttributes(attrGrantType.String(grantType))
	}
	return ctx, span
}

// endGrantSpan ends a grant span with the request's outcome: the RFC error
// code, and an error status only for the server's own failures (a client's
// mistake is an answer, not a fault).
func endGrantSpan(span trace.Span, err error) {
	if err != nil && span.IsRecording() {
		e := classify(err)
		span.SetAttributes(attrError.String(e.Code))
		if e.Code == CodeServerError || e.Code == CodeTemporarilyUnavailable {
			span.SetStatus(codes.Error, e.Code)
		}
	}
	span.End()
}
