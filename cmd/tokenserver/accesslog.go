package main

import (
	"context"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/tokenserver/tokenserver/tokenserver"
)

// accessLog returns a tokenserver.Config.OnRequest function that writes one
// info line per request. It logs only the RequestRecord's bounded fields
// and the trace id: never the path's query string, a header, a form value
// or an IP, so no token, password or username reaches the log. It is a
// function of its own so the wiring can chain it with request metrics.
func accessLog(logger *slog.Logger) func(context.Context, tokenserver.RequestRecord) {
	h := logger.Handler()
	return func(ctx context.Context, rec tokenserver.RequestRecord) {
		if !h.Enabled(ctx, slog.LevelInfo) {
			return
		}
		// A record built here and handed to the handler: Logger.LogAttrs
		// would also walk the stack for the caller's PC (runtime.Callers),
		// which no handler of ours reads (no AddSource) and which was a
		// tenth of the access log's cost per request.
		r := slog.NewRecord(time.Now(), slog.LevelInfo, "request", 0)
		r.AddAttrs(
			slog.String("method", rec.Method),
			slog.String("route", rec.Route),
			slog.Int("status", rec.Status),
			slog.Duration("duration", rec.Duration),
		)
		if rec.GrantType != "" {
			r.AddAttrs(slog.String("grant_type", rec.GrantType))
		}
		if rec.ClientID != "" {
			r.AddAttrs(slog.String("client_id", rec.ClientID))
		}
		if rec.Error != "" {
			r.AddAttrs(slog.String("error", rec.Error))
		}
		if sc := trace.SpanContextFromContext(ctx); sc.HasTraceID() {
			r.AddAttrs(slog.String("trace_id", sc.TraceID().String()))
		}
		_ = h.Handle(ctx, r) // as Logger.LogAttrs: a failed log write is not the request's error
	}
}

// onRequest is serve's tokenserver.Config.OnRequest: the access log when
// --access-log is on, otherwise nil (the server then skips recording).
func onRequest(cfg *serveConfig, logger *slog.Logger) func(context.Context, tokenserver.RequestRecord) {
	if !cfg.accessLog {
		return nil
	}
	return accessLog(logger)
}

// chainOnRequest calls each non-nil hook in order (the request metrics and
// the access log both read tokenserver.Config.OnRequest); nil when none.
func chainOnRequest(hooks ...func(context.Context, tokenserver.RequestRecord)) func(context.Context, tokenserver.RequestRecord) {
	var set []func(context.Context, tokenserver.RequestRecord)
	for _, h := range hooks {
		if h != nil {
			set = append(set, h)
		}
	}
	switch len(set) {
	case 0:
		return nil
	case 1:
		return set[0]
	}
	return func(ctx context.Context, rec tokenserver.RequestRecord) {
		for _, h := range set {
			h(ctx, rec)
		}
	}
}
