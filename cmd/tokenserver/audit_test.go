package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tokenserver/tokenserver/audit"
)

// TestServeRefusesUnwritableAuditLog: a path that cannot be opened stops
// start-up with an error naming the setting, rather than serving unaudited.
func TestServeRefusesUnwritableAuditLog(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "missing-dir", "audit.log")
	var out, errOut bytes.Buffer
	err := run(context.Background(), []string{"serve", "--addr", "127.0.0.1:0", "--audit-log", bad},
		envFrom(nil), strings.NewReader(""), &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "TOKENSERVER_AUDIT_LOG") {
		t.Fatalf("err = %v, want one naming TOKENSERVER_AUDIT_LOG", err)
	}
}

// TestServeAuditSink: "-" writes the server's events to the given stream,
// and the security counters count them whether or not a log is written.
func TestServeAuditSink(t *testing.T) {
	for _, path := range []string{"-", ""} {
		t.Run("audit-log="+path, func(t *testing.T) {
			var std bytes.Buffer
			reg := prometheus.NewRegistry()
			sink, closeLog, err := serveAudit(auditFlags{log: path}, &std, time.Now, discardLogger(), reg, nil)
			if err != nil {
				t.Fatal(err)
			}
			sink.Emit(context.Background(), audit.Event{Type: audit.RefreshReuseDetected, ClientID: "app"})
			closeLog()
			if n, err := testutil.GatherAndCount(reg, "tokenserver_refresh_reuse_detected_total"); err != nil || n != 1 {
				t.Fatalf("series %d, %v", n, err)
			}
			mfs, err := reg.Gather()
			if err != nil {
				t.Fatal(err)
			}
			for _, mf := range mfs {
				if mf.GetName() == "tokenserver_refresh_reuse_detected_total" && mf.GetMetric()[0].GetCounter().GetValue() != 1 {
					t.Errorf("reuse counter = %v, want 1", mf.GetMetric()[0].GetCounter().GetValue())
				}
			}
			if path == "" {
				if std.Len() != 0 {
					t.Errorf("no audit log configured, but wrote %q", std.String())
				}
				return
			}
			var line map[string]any
			if err := json.Unmarshal(std.Bytes(), &line); err != nil || line["type"] != "refresh.reuse_detected" {
				t.Errorf("stdout = %q (%v)", std.String(), err)
			}
		})
	}
}

func discardLogger() *slog.Logger { return newLogger(io.Discard, "error", "text") }
