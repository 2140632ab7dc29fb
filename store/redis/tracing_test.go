package redis

import (
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/tokenserver/tokenserver/store"
	"github.com/tokenserver/tokenserver/store/storetest"
)

// One span per command and per pipeline under the caller's span, named
// by the command, never holding an argument; none outside a trace.
func TestCommandSpans(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := trace.NewTracerProvider(trace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(t.Context()) })
	target := storetest.StartRedis(t)
	s, err := Open(t.Context(), Config{URL: target.URL(), Prefix: target.Prefix, TracerProvider: tp})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	markReady(t, s)

	const secret = "jti-that-must-not-appear"
	now := time.Now()
	rev := store.Revocation{Kind: store.RevokeJTI, Value: secret, ExpiresAt: now.Add(time.Hour)}
	if err := s.Revoke(t.Context(), rev); err != nil {
		t.Fatal(err)
	}
	if n := len(exp.GetSpans()); n != 0 {
		t.Fatalf("%d spans without a trace, want none", n)
	}

	ctx, parent := tp.Tracer("test").Start(t.Context(), "grant password")
	if revoked, err := s.IsRevoked(ctx, store.RevocationQuery{JTI: secret}, now); err != nil || !revoked {
		t.Fatalf("IsRevoked = %v, %v", revoked, err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	parent.End()
	// Directly under the caller: the pipeline and the ping. A new
	// connection's handshake (HELLO: its AUTH arguments are the Redis
	// password) nests under the command that dialled, by name only.
	spans := exp.GetSpans()
	ids := map[string]bool{parent.SpanContext().SpanID().String(): true}
	for _, sp := range spans {
		ids[sp.SpanContext.SpanID().String()] = true
	}
	var top []string
	for _, sp := range spans {
		if sp.Name == "grant password" {
			continue
		}
		if !ids[sp.Parent.SpanID().String()] {
			t.Errorf("span %q is outside the caller's trace", sp.Name)
		}
		got := map[string]string{}
		for _, kv := range sp.Attributes {
			got[string(kv.Key)] = kv.Value.Emit()
			if strings.Contains(kv.Value.Emit(), secret) || strings.Contains(kv.Value.Emit(), target.Prefix) {
				t.Errorf("span %q attribute %s = %q holds an argument", sp.Name, kv.Key, kv.Value.Emit())
			}
		}
		if got["db.system"] != "redis" || got["db.operation"] != sp.Name {
			t.Errorf("span %q attributes %v, want db.system=redis db.operation=%s", sp.Name, got, sp.Name)
		}
		if sp.Parent.SpanID() != parent.SpanContext().SpanID() {
			continue
		}
		if sp.Name == "pipeline" && got["db.redis.commands"] != `["get","get"]` {
			t.Errorf("pipeline span attributes %v, want the two GETs", got)
		}
		top = append(top, sp.Name)
	}
	if strings.Join(top, ",") != "pipeline,ping" {
		t.Errorf("spans under the caller %q, want pipeline,ping", top)
	}
}
