package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/tokenserver/tokenserver/tokenserver"
)

// TestAccessLogRecord: the line carries the record's fields, duration in
// seconds, and the trace id only when the context has a span.
func TestAccessLogRecord(t *testing.T) {
	rec := tokenserver.RequestRecord{Route: "token", Method: "POST", Status: 400, Duration: 250 * time.Millisecond,
		GrantType: "password", ClientID: "app", Error: "invalid_grant"}
	traceID := trace.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	spanCtx := trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: traceID, SpanID: trace.SpanID{1, 2, 3, 4, 5, 6, 7, 8}, TraceFlags: trace.FlagsSampled,
	}))
	tests := []struct {
		name      string
		ctx       context.Context
		wantTrace string
	}{
		{name: "no span", ctx: context.Background()},
		{name: "span", ctx: spanCtx, wantTrace: traceID.String()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			accessLog(newLogger(&buf, "info", "json"))(tt.ctx, rec)
			var got map[string]any
			if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
				t.Fatalf("not one JSON object: %q", buf.String())
			}
			want := map[string]any{"level": "INFO", "msg": "request", "method": "POST", "route": "token",
				"status": 400.0, "duration": 0.25, "grant_type": "password", "client_id": "app", "error": "invalid_grant"}
			for k, v := range want {
				if got[k] != v {
					t.Errorf("%s = %v, want %v", k, got[k], v)
				}
			}
			if tr, _ := got["trace_id"].(string); tr != tt.wantTrace {
				t.Errorf("trace_id = %q, want %q", tr, tt.wantTrace)
			}
		})
	}
}

// TestAccessLogServe: with --access-log `serve` writes one access line per
// request, with the route name and never the query string or a header, and
// none by default.
func TestAccessLogServe(t *testing.T) {
	tests := []struct {
		name      string
		accessLog string
		wantLines int
	}{
		{name: "on", accessLog: "true", wantLines: 2},
		{name: "default off", wantLines: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{"TOKENSERVER_LOG_FORMAT": "json"}
			if tt.accessLog != "" {
				env["TOKENSERVER_ACCESS_LOG"] = tt.accessLog
			}
			s := startServer(t, env)
			// Secrets where an access log that printed the URL or headers
			// would leak them.
			form := url.Values{"grant_type": {"password"}, "username": {"demo"}, "password": {"demo-password"}}
			req, _ := http.NewRequest(http.MethodPost, s.URL+"/token?leak=query-secret", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("X-Leak", "header-secret")
			req.SetBasicAuth("demo-client", "demo-secret")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("/token: %d", resp.StatusCode)
			}
			resp, err = http.Get(s.URL + "/no/such/path?leak=query-secret")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if err := s.stop(); err != nil {
				t.Fatal(err)
			}

			var lines []map[string]any
			for _, line := range strings.Split(strings.TrimSpace(s.stderr.String()), "\n") {
				var m map[string]any
				if err := json.Unmarshal([]byte(line), &m); err != nil {
					t.Fatalf("not JSON: %q", line)
				}
				// Only this test's requests: startServer polls /healthz and
				// the admin API reads the JWKS at start.
				if m["msg"] == "request" && (m["route"] == "token" || m["route"] == "other") {
					lines = append(lines, m)
				}
			}
			if len(lines) != tt.wantLines {
				t.Fatalf("%d access lines, want %d:\n%s", len(lines), tt.wantLines, s.stderr)
			}
			if tt.wantLines > 0 {
				tok, other := lines[0], lines[1]
				if tok["route"] != "token" || tok["status"] != 200.0 || tok["client_id"] != "demo-client" || tok["grant_type"] != "password" {
					t.Errorf("token line: %v", tok)
				}
				if _, ok := tok["duration"].(float64); !ok {
					t.Errorf("duration is not seconds: %v", tok["duration"])
				}
				if other["route"] != "other" || other["status"] != 404.0 || other["method"] != "GET" {
					t.Errorf("404 line: %v", other)
				}
			}
			for _, secret := range []string{"query-secret", "header-secret", "demo-password", "demo-secret", "no/such"} {
				if strings.Contains(s.stderr.String(), secret) {
					t.Errorf("the log contains %q", secret)
				}
			}
		})
	}
}
