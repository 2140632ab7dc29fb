package main

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestNewFigure(t *testing.T) {
	tests := []struct {
		name       string
		value      float64
		floor      float64
		target     *target
		wantRatio  float64
		wantResult string
	}{
		{"ratio at least, met", 90, 100, atLeast(0.9), 0.9, "pass"},
		{"ratio at least, missed", 89, 100, atLeast(0.9), 0.89, "miss"},
		{"ratio at most, met", 20, 10, atMost(2), 2, "pass"},
		{"ratio at most, missed", 21, 10, atMost(2), 2.1, "miss"},
		{"value at most, met", 250, 0, valueAtMost(250), 0, "pass"},
		{"value at most, missed", 251, 0, valueAtMost(250), 0, "miss"},
		{"value target ignores the floor", 40, 120, valueAtMost(50), 40.0 / 120, "pass"},
		{"no target is info", 5, 10, nil, 0.5, "info"},
		{"unmeasured value", math.NaN(), 10, atLeast(1), 0, "n/a"},
		{"ratio target without a floor", 5, 0, atLeast(1), 0, "n/a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFigure("f", "/s", tt.value, "floor", tt.floor, tt.target)
			if math.Abs(f.Ratio-tt.wantRatio) > 1e-9 || f.Result != tt.wantResult {
				t.Errorf("ratio %v result %q, want %v %q", f.Ratio, f.Result, tt.wantRatio, tt.wantResult)
			}
		})
	}
}

func TestWriteFiguresTable(t *testing.T) {
	fs := []figure{
		newFigure("password grants", "/s", 45, "argon2id, all cores", 50, atLeast(0.9)),
		newFigure("server CPU per refresh", "µs", 180, "", 0, valueAtMost(250)),
		newFigure("introspection (JWT)", "/s", math.NaN(), "HTTP fixed bytes", 20000, atLeast(0.5)),
	}
	var buf bytes.Buffer
	if err := writeFigures(&buf, fs); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(buf.String(), "\n"), "\n")
	if len(lines) != 4 {
		t.Fatalf("got %d lines, want header + 3:\n%s", len(lines), buf.String())
	}
	for i, want := range [][]string{
		{"FIGURE", "VALUE", "FLOOR", "RATIO", "TARGET", "RESULT"},
		{"password grants", "45.0/s", "argon2id, all cores 50.0/s", "0.90×", "≥ 0.90×", "pass"},
		{"server CPU per refresh", "180 µs", "≤ 250 µs", "pass"},
		{"introspection (JWT)", "n/a", "HTTP fixed bytes 20000/s", "≥ 0.50×", "n/a"},
	} {
		for _, w := range want {
			if !strings.Contains(lines[i], w) {
				t.Errorf("line %d %q lacks %q", i, lines[i], w)
			}
		}
	}
	// Columns are aligned: RESULT starts in the same column (in runes: µ, ×
	// and ≥ are one column each) on every line.
	col := utf8.RuneCountInString(lines[0][:strings.Index(lines[0], "RESULT")])
	for _, l := range lines[1:] {
		if idx := utf8.RuneCountInString(l[:strings.LastIndex(l, "  ")+2]); idx != col {
			t.Errorf("result column at %d, header at %d: %q", idx, col, l)
		}
	}
	if got := summaryLine(fs); got != "2 pass, 1 n/a" {
		t.Errorf("summaryLine = %q", got)
	}
}

func TestWriteJSONShape(t *testing.T) {
	dir := t.TempDir()
	started := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	r := &results{
		Schema: 1, Started: started, Machine: machineInfo{CPUs: 2},
		Config: configJSON{Concurrency: 16},
		Phases: []phaseResult{newPhaseResult("refresh grant", "closed", 16, 0,
			loadResult{Samples: []sample{{ms(2), 200}}, Elapsed: time.Second}, usage{ServerCPU: 150 * time.Microsecond, ServerPeak: 30 << 20})},
		Figures: []figure{newFigure("refresh grants", "/s", 700, "PostgreSQL commits", 1000, atLeast(0.7))},
	}
	path, err := writeJSON(dir, r)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "20260102T030405Z.json"); path != want {
		t.Errorf("path = %s, want %s", path, want)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"schema", "started", "machine", "config", "calibration", "phases", "figures", "idle_rss_mib"} {
		if _, ok := doc[key]; !ok {
			t.Errorf("JSON lacks %q", key)
		}
	}
	fig := doc["figures"].([]any)[0].(map[string]any)
	if fig["ratio"] != 0.7 || fig["result"] != "pass" || fig["target"].(map[string]any)["op"] != ">=" {
		t.Errorf("figure = %v", fig)
	}
	phase := doc["phases"].([]any)[0].(map[string]any)
	if phase["ok_per_s"] != 1.0 || phase["server_cpu_per_request_us"] != 150.0 || phase["latency_ms"].(map[string]any)["p99"] != 2.0 {
		t.Errorf("phase = %v", phase)
	}
	cal := doc["calibration"].(map[string]any)
	for _, key := range []string{"argon2id", "sign", "postgres_commit", "redis", "http_floor"} {
		if _, ok := cal[key]; !ok {
			t.Errorf("calibration lacks %q", key)
		}
	}
}
