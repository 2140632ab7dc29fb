package postgres

import (
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	oteltrace "go.opentelemetry.io/otel/trace"

	"github.com/tokenserver/tokenserver/store"
	"github.com/tokenserver/tokenserver/store/storetest"
)

func TestOperation(t *testing.T) {
	tests := []struct{ sql, want string }{
		{"SELECT 1", "SELECT"},
		{"\n\t  select id from users where name = $1", "SELECT"},
		{"WITH x AS (SELECT 1) UPDATE t SET a = 1", "WITH"},
		{"-- comment\nINSERT INTO t VALUES ($1)", "INSERT"},
		{"/* c */ DELETE FROM t", "DELETE"},
		{"begin", "BEGIN"},
		{"LISTEN tokenserver_keys", "LISTEN"},
		{"", "OTHER"},
		{"-- only a comment", "OTHER"},
		{"'quoted value' SELECT", "OTHER"},
		{"ABCDEFGHIJKLMNOPQRSTUVWXYZ", "OTHER"}, // longer than any keyword: not a keyword
		{"SELECT;", "SELECT"},
	}
	for _, tt := range tests {
		if got := operation(tt.sql); got != tt.want {
			t.Errorf("operation(%q) = %q, want %q", tt.sql, got, tt.want)
		}
	}
}

// One span per statement under the caller's span, with the operation and
// never the SQL text or an argument; none outside a trace.
func TestQuerySpans(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := trace.NewTracerProvider(trace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(t.Context()) })
	dsn := storetest.StartPostgres(t)
	openTestStore(t, dsn) // migrated, untraced
	s, err := Open(t.Context(), Config{URL: dsn, TracerProvider: tp})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)

	const secret = "jti-that-must-not-appear"
	now := time.Now()
	// Outside a trace: no spans.
	if _, err := s.IsRevoked(t.Context(), store.RevocationQuery{JTI: secret}, now); err != nil {
		t.Fatal(err)
	}
	if n := len(exp.GetSpans()); n != 0 {
		t.Fatalf("%d spans without a trace, want none", n)
	}

	ctx, parent := tp.Tracer("test").Start(t.Context(), "grant refresh_token")
	if _, err := s.IsRevoked(ctx, store.RevocationQuery{JTI: secret}, now); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UserByName(ctx, secret); err == nil {
		t.Fatal("unknown user found")
	}
	parent.End()
	spans := exp.GetSpans()
	var queries int
	for _, sp := range spans {
		if sp.Name == "grant refresh_token" {
			continue
		}
		queries++
		if sp.Parent.SpanID() != parent.SpanContext().SpanID() || sp.SpanKind != oteltrace.SpanKindClient {
			t.Errorf("span %q parent %v kind %v, want a client span under the caller's", sp.Name, sp.Parent.SpanID(), sp.SpanKind)
		}
		got := map[string]string{}
		for _, kv := range sp.Attributes {
			got[string(kv.Key)] = kv.Value.Emit()
			if strings.Contains(kv.Value.Emit(), secret) || strings.Contains(kv.Value.Emit(), "$1") {
				t.Errorf("span %q attribute %s = %q holds SQL or an argument", sp.Name, kv.Key, kv.Value.Emit())
			}
		}
		if got["db.system"] != "postgresql" || got["db.operation"] != sp.Name || len(got) != 2 {
			t.Errorf("span %q attributes %v, want db.system=postgresql db.operation=%s only", sp.Name, got, sp.Name)
		}
	}
	if queries < 2 {
		t.Fatalf("%d query spans for two queries", queries)
	}
}
