package postgres

import (
	"context"
	"errors"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// tracerName is the instrumentation scope of the query spans.
const tracerName = "github.com/tokenserver/tokenserver/store/postgres"

// Attributes of every query span. The SQL text and the arguments are never
// recorded: the arguments hold refresh-token hashes, usernames, password
// hashes and sealed keys; the operation name is what an operator needs to
// read a trace.
var attrSystem = attribute.String("db.system", "postgresql")

// queryTracer is the pgx QueryTracer and BatchTracer that makes one span
// per statement (Query, QueryRow, Exec, and the BEGIN/COMMIT/ROLLBACK pgx
// sends for a transaction) and one per batch. It only adds to a trace that
// already exists: background work (the relay polling the revocation log,
// purges, key refreshes) has no span in its context and makes no spans, so
// it does not flood the collector with a root span every 250 ms.
type queryTracer struct {
	tracer trace.Tracer
}

var (
	_ pgx.QueryTracer = queryTracer{}
	_ pgx.BatchTracer = queryTracer{}
)

func newQueryTracer(tp trace.TracerProvider) queryTracer {
	return queryTracer{tracer: tp.Tracer(tracerName)}
}

// spanKey marks the context of a span this tracer started, so that end
// never ends the caller's span (when start made none, SpanFromContext would
// return the caller's).
type spanKey struct{}

// start starts a client span for op under the span in ctx, if that one
// records. A sampled-out parent's children would be sampled out too
// (parent-based and trace-id-ratio samplers decide once per trace), so none
// is started: a sampled-out request pays nothing here.
// batch is the number of statements of a batch, 0 for a single statement.
func (t queryTracer) start(ctx context.Context, op string, batch int) context.Context {
	if !trace.SpanFromContext(ctx).IsRecording() {
		return ctx
	}
	ctx, span := t.tracer.Start(ctx, op, trace.WithSpanKind(trace.SpanKindClient))
	// Attributes only on a recording span: a sampled-out request should
	// not pay for building them.
	if span.IsRecording() {
		span.SetAttributes(attrSystem, attribute.String("db.operation", op))
		if batch > 0 {
			span.SetAttributes(attribute.Int("db.operation.batch.size", batch))
		}
	}
	return context.WithValue(ctx, spanKey{}, span)
}

// end ends the span start made, if it made one.
func end(ctx context.Context, err error) {
	span, ok := ctx.Value(spanKey{}).(trace.Span)
	if !ok {
		return
	}
	if err != nil {
		// Only the SQLSTATE: an error's text may quote a value (a
		// conversion error names what it could not convert).
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) {
			span.SetAttributes(attribute.String("db.response.status_code", pgErr.Code))
		}
		span.SetStatus(codes.Error, "query failed")
	}
	span.End()
}

func (t queryTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	return t.start(ctx, operation(data.SQL), 0)
}

func (t queryTracer) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryEndData) {
	end(ctx, data.Err)
}

func (t queryTracer) TraceBatchStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceBatchStartData) context.Context {
	return t.start(ctx, "BATCH", data.Batch.Len())
}

func (t queryTracer) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}

func (t queryTracer) TraceBatchEnd(ctx context.Context, _ *pgx.Conn, data pgx.TraceBatchEndData) {
	end(ctx, data.Err)
}

// operation is the statement's first keyword, upper-cased ("SELECT",
// "INSERT", "WITH", "BEGIN"): never more of the text. Leading blanks and
// comments are skipped.
func operation(sql string) string {
	for {
		sql = strings.TrimLeft(sql, " \t\r\n")
		switch {
		case strings.HasPrefix(sql, "--"):
			_, rest, ok := strings.Cut(sql, "\n")
			if !ok {
				return "OTHER"
			}
			sql = rest
			continue
		case strings.HasPrefix(sql, "/*"):
			_, rest, ok := strings.Cut(sql, "*/")
			if !ok {
				return "OTHER"
			}
			sql = rest
			continue
		}
		break
	}
	n := 0
	for n < len(sql) && n < 16 && isLetter(sql[n]) {
		n++
	}
	if n == 0 || (n < len(sql) && isLetter(sql[n])) {
		return "OTHER"
	}
	return strings.ToUpper(sql[:n])
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
