package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape is one GET /metrics: the text and its parsed families.
type scrape struct {
	raw      string
	families map[string]*dto.MetricFamily
}

func scrapeMetrics(t *testing.T, metricsURL string) scrape {
	t.Helper()
	resp, err := http.Get(metricsURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: status %d, %v", resp.StatusCode, err)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("parsing /metrics: %v\n%s", err, body)
	}
	return scrape{raw: string(body), families: families}
}

// metric returns the series of name whose labels are exactly labels.
func (s scrape) metric(name string, labels map[string]string) (*dto.Metric, bool) {
	f := s.families[name]
	if f == nil {
		return nil, false
	}
	for _, m := range f.GetMetric() {
		if len(m.GetLabel()) != len(labels) {
			continue
		}
		match := true
		for _, l := range m.GetLabel() {
			if v, ok := labels[l.GetName()]; !ok || v != l.GetValue() {
				match = false
			}
		}
		if match {
			return m, true
		}
	}
	return nil, false
}

// value is a counter's or gauge's value, or a histogram's sample count; a
// missing series is -1.
func (s scrape) value(name string, labels map[string]string) float64 {
	m, ok := s.metric(name, labels)
	switch {
	case !ok:
		return -1
	case m.Counter != nil:
		return m.GetCounter().GetValue()
	case m.Gauge != nil:
		return m.GetGauge().GetValue()
	case m.Histogram != nil:
		return float64(m.GetHistogram().GetSampleCount())
	}
	return -1
}

func httpStatus(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// promtoolCheck runs `promtool check metrics` on a scrape. A missing
// promtool skips the check locally and fails it on CI, like the storage
// tests' servers (scripts/test-deps.sh installs it).
func promtoolCheck(t *testing.T, raw string) {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("promtool not found (CI=true): install Debian's prometheus package (scripts/test-deps.sh)")
		}
		t.Log("promtool not found: skipping `promtool check metrics` (install Debian's prometheus package)")
		return
	}
	cmd := exec.Command(path, "check", "metrics")
	cmd.Stdin = strings.NewReader(raw)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

// TestMetricsEndToEnd: with --metrics-addr a login, a bad login and a
// refresh move the RED and capacity series by exactly what they did; pool,
// feed, key and publish-lag series are there; the scrape passes promtool;
// the public port has no /metrics and no pprof, and the metrics port has
// pprof only with --pprof.
func TestMetricsEndToEnd(t *testing.T) {
	env := productionEnv(t)
	mustRunCLI(t, env, "", "migrate")
	secret := addClient(t, env, "--scopes", "read", "app")
	mustRunCLI(t, env, "correct horse battery staple\n", "user", "add", "alice")
	env["TOKENSERVER_METRICS_ADDR"] = freeAddr(t) // the env twin
	metricsURL := "http://" + env["TOKENSERVER_METRICS_ADDR"]
	s := startServer(t, env, "--hash-concurrency", "2")

	before := scrapeMetrics(t, metricsURL)
	ctx := context.Background()
	cfg := s.oauth2Config("app", secret, "read")
	tok, err := cfg.PasswordCredentialsToken(ctx, "alice", "correct horse battery staple")
	if err != nil {
		t.Fatalf("password grant: %v", err)
	}
	if _, err := cfg.PasswordCredentialsToken(ctx, "alice", "wrong"); retrieveErrorCode(err) != "invalid_grant" {
		t.Fatalf("bad login: %v, want invalid_grant", err)
	}
	next, err := refresh(ctx, cfg, tok.RefreshToken)
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if code := httpStatus(t, s.URL+"/metrics"); code != http.StatusNotFound {
		t.Errorf("public port /metrics = %d, want 404", code)
	}
	for _, p := range []string{"/debug/pprof/", "/debug/pprof/cmdline"} {
		if code := httpStatus(t, s.URL+p); code != http.StatusNotFound {
			t.Errorf("public port %s = %d, want 404", p, code)
		}
		if code := httpStatus(t, metricsURL+p); code != http.StatusNotFound {
			t.Errorf("metrics port %s without --pprof = %d, want 404", p, code)
		}
	}
	after := scrapeMetrics(t, metricsURL)

	type series struct {
		name   string
		labels map[string]string
		delta  float64
	}
	for _, c := range []series{
		{"tokenserver_token_requests_total", map[string]string{"grant_type": "password", "error": ""}, 1},
		{"tokenserver_token_requests_total", map[string]string{"grant_type": "password", "error": "invalid_grant"}, 1},
		{"tokenserver_token_requests_total", map[string]string{"grant_type": "refresh_token", "error": ""}, 1},
		{"tokenserver_token_requests_total", map[string]string{"grant_type": "client_credentials", "error": ""}, 0},
		{"tokenserver_token_request_duration_seconds", map[string]string{"grant_type": "password"}, 2},
		{"tokenserver_token_request_duration_seconds", map[string]string{"grant_type": "refresh_token"}, 1},
		{"tokenserver_http_requests_total", map[string]string{"handler": "token", "method": "POST", "code": "200"}, 2},
		{"tokenserver_http_requests_total", map[string]string{"handler": "token", "method": "POST", "code": "400"}, 1},
		{"tokenserver_http_requests_total", map[string]string{"handler": "other", "method": "GET", "code": "404"}, 3},
		{"tokenserver_http_request_duration_seconds", map[string]string{"handler": "token"}, 3},
		// Two password checks (the login and the bad login), each admitted
		// to a free slot; the refresh hashes nothing.
		{"tokenserver_password_hash_duration_seconds", nil, 2},
		{"tokenserver_password_hash_wait_seconds", nil, 2},
		{"tokenserver_logins_shed_total", map[string]string{"cause": "predicted_wait"}, 0},
		{"tokenserver_logins_shed_total", map[string]string{"cause": "queue_timeout"}, 0},
		{"tokenserver_logins_shed_total", map[string]string{"cause": "canceled"}, 0},
	} {
		b, a := before.value(c.name, c.labels), after.value(c.name, c.labels)
		if a < 0 {
			t.Errorf("%s%v: no series after the requests", c.name, c.labels)
			continue
		}
		if b < 0 {
			b = 0
		}
		if a-b != c.delta {
			t.Errorf("%s%v moved by %g (%g → %g), want %g", c.name, c.labels, a-b, b, a, c.delta)
		}
	}
	for _, c := range []series{
		{"tokenserver_password_hash_slots", nil, 2},
		{"tokenserver_password_hash_slots_busy", nil, 0},
		{"tokenserver_password_hash_queue_depth", nil, 0},
		{"tokenserver_postgres_pool_max_conns", nil, 20},
		{"tokenserver_signing_key_max_age_seconds", nil, (720 * time.Hour).Seconds()},
	} {
		if v := after.value(c.name, c.labels); v != c.delta {
			t.Errorf("%s%v = %g, want %g", c.name, c.labels, v, c.delta)
		}
	}
	for _, c := range []series{
		{name: "tokenserver_postgres_pool_acquires_total"},
		{name: "tokenserver_redis_pool_total_conns"},
		{name: "tokenserver_signing_key_age_seconds", labels: map[string]string{"state": "current"}},
		{name: "tokenserver_signing_key_age_seconds", labels: map[string]string{"state": "next"}},
		{name: "go_goroutines"},
		{name: "process_cpu_seconds_total"},
	} {
		if v := after.value(c.name, c.labels); v < 0 {
			t.Errorf("%s%v missing", c.name, c.labels)
		}
	}
	if v := after.value("tokenserver_postgres_pool_acquires_total", nil); v <= before.value("tokenserver_postgres_pool_acquires_total", nil) {
		t.Errorf("postgres acquires did not grow over a login and a refresh: %g", v)
	}
	// No label holds a username or a client id (no allowlist here).
	for _, secretish := range []string{"alice", `"app"`, tok.AccessToken[:20]} {
		if strings.Contains(after.raw, secretish) {
			t.Errorf("the scrape contains %q", secretish)
		}
	}
	promtoolCheck(t, after.raw)

	// An open revocation stream is a subscriber; the relay vouches the feed
	// healthy; a revocation is relayed and its lag measured.
	req, _ := http.NewRequest(http.MethodGet, s.URL+"/revocations/stream", nil)
	req.SetBasicAuth("app", secret)
	streamCtx, closeStream := context.WithCancel(ctx)
	defer closeStream()
	stream, err := http.DefaultClient.Do(req.WithContext(streamCtx))
	if err != nil || stream.StatusCode != http.StatusOK {
		t.Fatalf("revocation stream: %v", err)
	}
	defer stream.Body.Close()
	if _, err := stream.Body.Read(make([]byte, 1)); err != nil { // the first snapshot
		t.Fatal(err)
	}
	revoke, _ := http.NewRequest(http.MethodPost, s.URL+"/revoke", strings.NewReader("token="+next.AccessToken))
	revoke.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	revoke.SetBasicAuth("app", secret)
	resp, err := http.DefaultClient.Do(revoke)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("/revoke: %v", err)
	}
	resp.Body.Close()
	lag := before.value("tokenserver_revocation_publish_lag_seconds", nil)
	deadline := time.Now().Add(20 * time.Second) // hang detector: the relay runs every 250 ms
	for {
		m := scrapeMetrics(t, metricsURL)
		if m.value("tokenserver_revocation_publish_lag_seconds", nil) > lag &&
			m.value("tokenserver_revocation_feed_healthy", nil) == 1 {
			if v := m.value("tokenserver_revocation_feed_subscribers", nil); v != 1 {
				t.Errorf("revocation_feed_subscribers = %g with one open stream, want 1", v)
			}
			if v := m.value("tokenserver_revocation_feed_staleness_seconds", nil); v != 0 {
				t.Errorf("revocation_feed_staleness_seconds = %g while healthy, want 0", v)
			}
			promtoolCheck(t, m.raw)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no publish lag sample or no healthy feed 20s after /revoke:\n%s", m.raw)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// With --pprof the profiles are on the metrics listener, and still not on
// the public one.
func TestMetricsPprof(t *testing.T) {
	metricsAddr := freeAddr(t)
	s := startServer(t, map[string]string{}, "--metrics-addr", metricsAddr, "--pprof")
	for _, p := range []string{"/debug/pprof/", "/debug/pprof/cmdline", "/debug/pprof/goroutine?debug=1"} {
		if code := httpStatus(t, "http://"+metricsAddr+p); code != http.StatusOK {
			t.Errorf("metrics port %s = %d, want 200", p, code)
		}
		if code := httpStatus(t, s.URL+p); code != http.StatusNotFound {
			t.Errorf("public port %s = %d, want 404", p, code)
		}
	}
	if code := httpStatus(t, "http://"+metricsAddr+"/metrics"); code != http.StatusOK {
		t.Errorf("/metrics = %d, want 200", code)
	}
	if err := s.stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	// The metrics listener shut down with the server.
	if resp, err := http.Get("http://" + metricsAddr + "/metrics"); err == nil {
		resp.Body.Close()
		t.Errorf("metrics listener still answers after shutdown: %d", resp.StatusCode)
	}
}

// Bad metrics settings stop the server at start, naming the setting.
func TestServeRejectsBadMetricsConfig(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"pprof without the metrics listener", map[string]string{"TOKENSERVER_PPROF": "true"}, "--pprof [TOKENSERVER_PPROF]: needs --metrics-addr"},
		{"metrics address without a port", map[string]string{"TOKENSERVER_METRICS_ADDR": "127.0.0.1"}, "--metrics-addr [TOKENSERVER_METRICS_ADDR]"},
		{"metrics address in use", map[string]string{"TOKENSERVER_METRICS_ADDR": busy.Addr().String()}, "--metrics-addr [TOKENSERVER_METRICS_ADDR]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{"TOKENSERVER_ADDR": freeAddr(t)}
			for k, v := range tt.env {
				env[k] = v
			}
			out, err := runCLI(t, env, "", "serve")
			if err == nil {
				t.Fatalf("serve started with bad config; output:\n%s", out)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not name %q", err, tt.want)
			}
		})
	}
}
