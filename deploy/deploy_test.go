// Package deploy holds no Go code: its tests check the deployment files
// (Prometheus alert rules, the Grafana dashboard) against the metric names
// the server exports.
package deploy

import (
	"encoding/json"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// metricNames are the server's metrics (README, Operations; the issue 11
// contract). Histograms also have _bucket, _sum and _count series.
var metricNames = map[string]bool{ // name → histogram
	"tokenserver_http_requests_total":                          false,
	"tokenserver_http_request_duration_seconds":                true,
	"tokenserver_token_requests_total":                         false,
	"tokenserver_token_request_duration_seconds":               true,
	"tokenserver_login_failures_total":                         false,
	"tokenserver_logins_throttled_total":                       false,
	"tokenserver_refresh_reuse_detected_total":                 false,
	"tokenserver_families_revoked_total":                       false,
	"tokenserver_client_auth_failures_total":                   false,
	"tokenserver_tokens_revoked_total":                         false,
	"tokenserver_emergency_key_rotations_total":                false,
	"tokenserver_revocation_publish_lag_seconds":               true,
	"tokenserver_revocation_feed_subscribers":                  false,
	"tokenserver_revocation_feed_healthy":                      false,
	"tokenserver_revocation_feed_staleness_seconds":            false,
	"tokenserver_signing_key_age_seconds":                      false,
	"tokenserver_signing_key_max_age_seconds":                  false,
	"tokenserver_password_hash_slots":                          false,
	"tokenserver_password_hash_slots_busy":                     false,
	"tokenserver_password_hash_queue_depth":                    false,
	"tokenserver_password_hash_duration_seconds":               true,
	"tokenserver_password_hash_wait_seconds":                   true,
	"tokenserver_logins_shed_total":                            false,
	"tokenserver_dependency_up":                                false,
	"tokenserver_postgres_pool_acquired_conns":                 false,
	"tokenserver_postgres_pool_idle_conns":                     false,
	"tokenserver_postgres_pool_total_conns":                    false,
	"tokenserver_postgres_pool_max_conns":                      false,
	"tokenserver_postgres_pool_acquires_total":                 false,
	"tokenserver_postgres_pool_empty_acquires_total":           false,
	"tokenserver_postgres_pool_canceled_acquires_total":        false,
	"tokenserver_postgres_pool_acquire_duration_seconds_total": false,
	"tokenserver_redis_pool_hits_total":                        false,
	"tokenserver_redis_pool_misses_total":                      false,
	"tokenserver_redis_pool_timeouts_total":                    false,
	"tokenserver_redis_pool_total_conns":                       false,
	"tokenserver_redis_pool_idle_conns":                        false,
	"tokenserver_redis_pool_stale_conns_total":                 false,
}

// metricRef finds metric names in PromQL (and in YAML around it). go_* and
// process_* are the standard collectors' and are accepted as they are.
var metricRef = regexp.MustCompile(`\b(?:tokenserver|go|process)_[a-zA-Z0-9_]+\b`)

// unknownMetrics returns the names referenced in text that the server does
// not export.
func unknownMetrics(text string) []string {
	var bad []string
	for _, name := range metricRef.FindAllString(text, -1) {
		if !strings.HasPrefix(name, "tokenserver_") {
			continue
		}
		if _, ok := metricNames[name]; ok {
			continue
		}
		base, known := "", false
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if b, ok := strings.CutSuffix(name, suffix); ok {
				base = b
			}
		}
		if base != "" {
			known = metricNames[base] // a histogram's series
		}
		if !known && !slices.Contains(bad, name) {
			bad = append(bad, name)
		}
	}
	return bad
}

func TestUnknownMetrics(t *testing.T) {
	tests := []struct {
		expr string
		want []string
	}{
		{expr: `rate(tokenserver_http_requests_total[5m])`},
		{expr: `rate(tokenserver_token_request_duration_seconds_bucket[5m])`},
		{expr: `go_goroutines + process_resident_memory_bytes`},
		{expr: `rate(tokenserver_http_requests_totl[5m])`, want: []string{"tokenserver_http_requests_totl"}},
		{expr: `tokenserver_http_requests_total_bucket`, want: []string{"tokenserver_http_requests_total_bucket"}},
	}
	for _, tt := range tests {
		if got := unknownMetrics(tt.expr); !slices.Equal(got, tt.want) {
			t.Errorf("unknownMetrics(%q) = %v, want %v", tt.expr, got, tt.want)
		}
	}
}

// promtool finds promtool (Debian's prometheus package); without it the
// test is skipped locally and fails in CI.
func promtool(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"promtool", "/usr/bin/promtool"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("promtool not found: install the prometheus package (scripts/test-deps.sh)")
	}
	t.Skip("promtool not found: install the prometheus package (scripts/test-deps.sh) to check the alert rules")
	return ""
}

// TestAlertRules: the rules load and lint clean, their unit tests pass,
// and they name only metrics the server exports.
func TestAlertRules(t *testing.T) {
	bin := promtool(t)
	for _, args := range [][]string{
		{"check", "rules", "alerts.yaml"},
		{"test", "rules", "alerts_test.yaml"},
	} {
		cmd := exec.Command(bin, args...)
		cmd.Dir = "prometheus"
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	for _, f := range []string{"prometheus/alerts.yaml", "prometheus/alerts_test.yaml"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if bad := unknownMetrics(string(b)); len(bad) > 0 {
			t.Errorf("%s names metrics the server does not export: %v", f, bad)
		}
	}
}

type dashboardPanel struct {
	Type    string `json:"type"`
	Title   string `json:"title"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
	Panels []dashboardPanel `json:"panels"` // a collapsed row's
}

// TestDashboard: the Grafana dashboard is JSON, every panel but a row has
// a query, and every query names only metrics the server exports.
func TestDashboard(t *testing.T) {
	b, err := os.ReadFile("grafana/tokenserver.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title  string           `json:"title"`
		UID    string           `json:"uid"`
		Panels []dashboardPanel `json:"panels"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	if dash.Title == "" || dash.UID == "" {
		t.Errorf("title %q uid %q: both required", dash.Title, dash.UID)
	}
	referenced := map[string]bool{}
	var walk func([]dashboardPanel)
	walk = func(panels []dashboardPanel) {
		for _, p := range panels {
			walk(p.Panels)
			if p.Type == "row" {
				continue
			}
			if len(p.Targets) == 0 {
				t.Errorf("panel %q has no query", p.Title)
			}
			for _, tg := range p.Targets {
				if strings.TrimSpace(tg.Expr) == "" {
					t.Errorf("panel %q: empty expr", p.Title)
				}
				if bad := unknownMetrics(tg.Expr); len(bad) > 0 {
					t.Errorf("panel %q: unknown metrics %v in %s", p.Title, bad, tg.Expr)
				}
				for _, name := range metricRef.FindAllString(tg.Expr, -1) {
					referenced[name] = true
				}
			}
		}
	}
	walk(dash.Panels)
	if len(referenced) == 0 {
		t.Fatal("the dashboard queries no metric")
	}
}
