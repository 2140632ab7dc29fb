package main

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tokenserver/tokenserver/store/storetest"
)

// TestLogDurations: a duration attribute is seconds in JSON and a Go
// duration string in text, never integer nanoseconds.
func TestLogDurations(t *testing.T) {
	tests := []struct {
		format string
		want   string
	}{
		{format: "json", want: `"took":1.5,`},
		{format: "text", want: "took=1.5s "},
	}
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			var buf bytes.Buffer
			logger := newLogger(&buf, "info", tt.format)
			logger.Info("done", "took", 1500*time.Millisecond, "n", 1)
			logger.WithGroup("g").Info("grouped", "took", 1500*time.Millisecond, "n", 1)
			out := buf.String()
			if strings.Count(out, tt.want) != 2 {
				t.Errorf("output %q: want %q in both lines", out, tt.want)
			}
			if strings.Contains(out, "1500000000") {
				t.Errorf("duration logged in nanoseconds: %q", out)
			}
		})
	}
}

// TestJSONLogsWhenRedisGoesAway: with --log-format json, go-redis's own
// lines (here: the pool failing to dial a stopped Redis) arrive through the
// server's logger, as JSON like every other line. Before, go-redis printed
// plain text straight to the process's stderr. Meanwhile /readyz says
// Redis is degraded and stays 200 (before: 503), and /token answers.
func TestJSONLogsWhenRedisGoesAway(t *testing.T) {
	env := productionEnv(t)
	rd, err := storetest.StartRedisServer()
	if err != nil {
		t.Fatalf("StartRedisServer: %v", err)
	}
	t.Cleanup(func() { _ = rd.Stop() })
	env["REDIS_URL"] = "redis://" + rd.Addr
	mustRunCLI(t, env, "", "migrate")
	secret := addClient(t, env, "--scopes", "read", "app")
	mustRunCLI(t, env, "pw-of-ann\n", "user", "add", "ann")
	env["TOKENSERVER_LOG_FORMAT"] = "json"
	s := startServer(t, env)

	if err := rd.Stop(); err != nil {
		t.Fatal(err)
	}
	// The login throttle, the relay and the revocation feed all reach for
	// Redis; a login makes sure something dials soon.
	eventually(t, 30*time.Second, "a go-redis line in the server's log", func() bool {
		tokenStatus(t, s, secret)
		return strings.Contains(s.stderr.String(), `"component":"go-redis"`)
	})
	// Redis down is degraded, not unready: tokens are still issued.
	eventually(t, 30*time.Second, "/readyz 200 with redis degraded", func() bool {
		resp, err := http.Get(s.URL + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode == http.StatusOK && string(body) == "postgres: ok\nredis: degraded\nsigning key: ok\n"
	})
	if code, errCode := tokenStatus(t, s, secret); code != http.StatusOK {
		t.Errorf("/token with Redis down: %d %q, want 200", code, errCode)
	}
	if err := s.stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	lines := strings.Split(strings.TrimRight(s.stderr.String(), "\n"), "\n")
	for i, line := range lines {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Errorf("stderr line %d is not a JSON object: %q", i+1, line)
			continue
		}
		if rec["component"] == "go-redis" {
			if rec["level"] != slog.LevelWarn.String() {
				t.Errorf("go-redis line at level %v, want WARN: %q", rec["level"], line)
			}
			if msg, _ := rec["msg"].(string); strings.HasPrefix(msg, "redis: ") {
				t.Errorf("go-redis line keeps its own prefix: %q", line)
			}
		}
	}
}
