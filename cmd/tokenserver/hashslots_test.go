package main

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"testing"
	"testing/fstest"

	"github.com/tokenserver/tokenserver/tokenserver/password"
)

// TestHashSlots: serve's slots come from --hash-concurrency when set, else
// from the CPUs and the memory limit, and one log line says which and why.
func TestHashSlots(t *testing.T) {
	owasp := uint(password.OWASP().Memory)
	memMax := func(s string) fstest.MapFS {
		return fstest.MapFS{"sys/fs/cgroup/memory.max": &fstest.MapFile{Data: []byte(s)}}
	}
	tests := []struct {
		name     string
		flag     int
		root     fstest.MapFS
		env      map[string]string
		cpus     int
		want     int
		wantLine map[string]any
	}{
		{name: "256Mi on 12 CPUs", root: memMax("268435456\n"), cpus: 12, want: 9,
			wantLine: map[string]any{"source": "derived", "cpus": 12.0, "memory_limit_bytes": float64(256 << 20),
				"memory_limit_source": "cgroup v2 memory.max", "memory_slots": 9.0}},
		{name: "no limit", root: memMax("max\n"), cpus: 3, want: 3,
			wantLine: map[string]any{"source": "derived", "cpus": 3.0, "memory_limit_bytes": 0.0, "memory_limit_source": "none"}},
		{name: "GOMEMLIMIT", root: fstest.MapFS{}, env: map[string]string{"GOMEMLIMIT": "128MiB"}, cpus: 8, want: 3,
			wantLine: map[string]any{"source": "derived", "memory_limit_source": "GOMEMLIMIT", "memory_slots": 3.0}},
		{name: "the flag overrides the limit", flag: 12, root: memMax("134217728\n"), cpus: 2, want: 12,
			wantLine: map[string]any{"source": "--hash-concurrency"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			logger := slog.New(slog.NewJSONHandler(&buf, nil))
			cfg := &serveConfig{hashConcurrency: tt.flag, argon2Memory: owasp}
			got := hashSlots(cfg, envFrom(tt.env), tt.root, tt.cpus, logger)
			if got != tt.want {
				t.Fatalf("hashSlots = %d, want %d", got, tt.want)
			}
			lines := bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n"))
			if len(lines) != 1 {
				t.Fatalf("want one log line, got %d:\n%s", len(lines), buf.String())
			}
			var line map[string]any
			if err := json.Unmarshal(lines[0], &line); err != nil {
				t.Fatal(err)
			}
			if line["msg"] != "password hashing slots" || line["slots"] != float64(tt.want) {
				t.Errorf("log line %v, want msg \"password hashing slots\" and slots %d", line, tt.want)
			}
			for k, v := range tt.wantLine {
				if line[k] != v {
					t.Errorf("log line %s = %v, want %v (line %s)", k, line[k], v, lines[0])
				}
			}
		})
	}
}
