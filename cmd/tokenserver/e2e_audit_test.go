package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// readAuditLog parses the audit log: one JSON object per line.
func readAuditLog(t *testing.T, path string) ([]map[string]any, string) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var events []map[string]any
	for _, line := range strings.Split(strings.TrimSuffix(string(raw), "\n"), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("audit line is not JSON: %q: %v", line, err)
		}
		events = append(events, m)
	}
	return events, string(raw)
}

func auditTypes(events []map[string]any) []string {
	var types []string
	for _, e := range events {
		types = append(types, e["type"].(string))
	}
	return types
}

// TestAuditLogEndToEnd is issue 11's operator's view: with --audit-log,
// --metrics-addr and --log-format json, a server on PostgreSQL and Redis
// and an admin command writing to the same file record a good login, a
// refresh, a reuse, a revoke, bad and throttled logins and the admin
// action, in order, each with schema, id and time, and nothing secret; the
// metrics move by exactly what was driven; and every line the server logs
// is a JSON object.
func TestAuditLogEndToEnd(t *testing.T) {
	env := productionEnv(t)
	logPath := filepath.Join(t.TempDir(), "audit.log")
	const password = "correct horse battery staple"
	mustRunCLI(t, env, "", "migrate")
	secret := addClient(t, env, "--scopes", "read", "app")
	mustRunCLI(t, env, password+"\n", "user", "add", "alice")
	env["TOKENSERVER_METRICS_ADDR"] = freeAddr(t)
	metricsURL := "http://" + env["TOKENSERVER_METRICS_ADDR"]
	s := startServer(t, env, "--audit-log", logPath, "--throttle-user-failures", "2", "--log-format", "json")
	before := scrapeMetrics(t, metricsURL)
	ctx := context.Background()
	cfg := s.oauth2Config("app", secret, "read")
	var tokens []string

	first, err := cfg.PasswordCredentialsToken(ctx, "alice", password)
	if err != nil {
		t.Fatal(err)
	}
	second, err := refresh(ctx, cfg, first.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := refresh(ctx, cfg, first.RefreshToken); retrieveErrorCode(err) != "invalid_grant" {
		t.Fatalf("reuse: %v, want invalid_grant", err)
	}
	third, err := cfg.PasswordCredentialsToken(ctx, "alice", password)
	if err != nil {
		t.Fatal(err)
	}
	tokens = append(tokens, first.AccessToken, first.RefreshToken, second.AccessToken, second.RefreshToken,
		third.AccessToken, third.RefreshToken)
	req, err := http.NewRequest(http.MethodPost, s.URL+"/revoke", strings.NewReader(url.Values{"token": {third.RefreshToken}}.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("app", secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/revoke: %d", resp.StatusCode)
	}
	for i, want := range []int{http.StatusBadRequest, http.StatusBadRequest, http.StatusTooManyRequests} {
		a, err := postLogin(s, secret, "alice", "wrong-guess")
		if err != nil {
			t.Fatal(err)
		}
		if a.status != want {
			t.Fatalf("bad login %d: status %d, want %d", i, a.status, want)
		}
	}

	served := []string{
		"login.succeeded", "token.refreshed", "refresh.reuse_detected", "session.revoked",
		"login.succeeded", "session.revoked", "token.revoked",
		"login.failed", "login.failed", "login.throttled",
	}
	// The server writes in the background: wait for its lines before the
	// admin command appends to the same file.
	eventually(t, 20*time.Second, "the server's audit events", func() bool {
		events, _ := readAuditLog(t, logPath)
		return len(events) >= len(served)
	})
	// A readiness probe reports each dependency into dependency_up.
	if code := httpStatus(t, s.URL+"/readyz"); code != http.StatusOK {
		t.Fatalf("/readyz = %d", code)
	}
	after := scrapeMetrics(t, metricsURL)
	for _, dep := range []string{"postgres", "redis"} {
		if v := after.value("tokenserver_dependency_up", map[string]string{"dependency": dep}); v != 1 {
			t.Errorf("tokenserver_dependency_up{dependency=%q} = %v after a ready probe, want 1", dep, v)
		}
	}
	if _, ok := after.metric("tokenserver_dependency_up", map[string]string{"dependency": "other"}); ok {
		t.Error("the signing-key check made a dependency_up series")
	}
	mustRunCLI(t, env, "", "user", "disable", "alice", "--audit-log", logPath)
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	checkOperatorMetrics(t, before, after)
	checkJSONOnly(t, "server log", s.stderr.String())

	events, raw := readAuditLog(t, logPath)
	want := append(served, "token.revoked", "admin.user.disable")
	if got := auditTypes(events); !slices.Equal(got, want) {
		t.Fatalf("audit event types:\n got %q\nwant %q\n%s", got, want, raw)
	}
	ids := map[string]bool{}
	for _, e := range events {
		if e["schema"] != float64(1) || e["time"] == "" || ids[e["id"].(string)] {
			t.Errorf("bad common fields: %v", e)
		}
		ids[e["id"].(string)] = true
	}
	aliceID := events[0]["subject"]
	if aliceID == nil || aliceID == "alice" {
		t.Fatalf("login.succeeded subject = %v, want the user id", aliceID)
	}
	for _, check := range []struct {
		i     int
		field string
		want  any
	}{
		{0, "client_id", "app"}, {0, "client_ip", "127.0.0.1"},
		{3, "cause", "reuse"}, {5, "cause", "revoke"}, {6, "kind", "refresh"},
		{7, "reason", "invalid_credentials"}, {9, "limit", "user"},
		{10, "kind", "user"}, {10, "subject", aliceID},
		{11, "actor", "cli"}, {11, "target", aliceID},
	} {
		if got := events[check.i][check.field]; got != check.want {
			t.Errorf("event %d (%s): %s = %v, want %v", check.i, events[check.i]["type"], check.field, got, check.want)
		}
	}
	if events[2]["family_id"] != events[0]["family_id"] || events[2]["family_id"] == nil {
		t.Errorf("reuse names family %v, the login %v", events[2]["family_id"], events[0]["family_id"])
	}
	for _, s := range append(tokens, secret, password, "wrong-guess", `"alice"`) {
		if strings.Contains(raw, s) {
			t.Errorf("the audit log holds %q", s)
		}
	}
	if fi, err := os.Stat(logPath); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("audit log mode: %v %v, want 0600", fi.Mode(), err)
	}
}

// checkOperatorMetrics checks the deltas of TestAuditLogEndToEnd's traffic:
// two good logins, two wrong passwords then a throttled one, a refresh, a
// reuse and a revocation of a refresh token.
func checkOperatorMetrics(t *testing.T, before, after scrape) {
	t.Helper()
	for _, c := range []struct {
		name   string
		labels map[string]string
		delta  float64
	}{
		{"tokenserver_token_requests_total", map[string]string{"grant_type": "password", "error": ""}, 2},
		{"tokenserver_token_requests_total", map[string]string{"grant_type": "password", "error": "invalid_grant"}, 2},
		{"tokenserver_token_requests_total", map[string]string{"grant_type": "refresh_token", "error": ""}, 1},
		{"tokenserver_token_requests_total", map[string]string{"grant_type": "refresh_token", "error": "invalid_grant"}, 1},
		{"tokenserver_http_requests_total", map[string]string{"handler": "revoke", "method": "POST", "code": "200"}, 1},
		{"tokenserver_http_requests_total", map[string]string{"handler": "token", "method": "POST", "code": "429"}, 1},
		{"tokenserver_login_failures_total", map[string]string{"reason": "invalid_credentials"}, 2},
		{"tokenserver_logins_throttled_total", map[string]string{"limit": "user"}, 1},
		{"tokenserver_logins_throttled_total", map[string]string{"limit": "ip"}, 0},
		{"tokenserver_refresh_reuse_detected_total", nil, 1},
		{"tokenserver_families_revoked_total", map[string]string{"cause": "reuse"}, 1},
		{"tokenserver_families_revoked_total", map[string]string{"cause": "revoke"}, 1},
		{"tokenserver_tokens_revoked_total", map[string]string{"kind": "refresh"}, 1},
		{"tokenserver_client_auth_failures_total", map[string]string{"client": "other"}, 0},
		// Two good logins and two wrong passwords are hashed; the throttled
		// attempt is refused before hashing.
		{"tokenserver_password_hash_duration_seconds", nil, 4},
	} {
		b, a := before.value(c.name, c.labels), after.value(c.name, c.labels)
		if b < 0 { // a series that appears with its first sample
			b = 0
		}
		if a < 0 {
			t.Errorf("%s%v: no series", c.name, c.labels)
			continue
		}
		if a-b != c.delta {
			t.Errorf("%s%v moved by %v, want %v", c.name, c.labels, a-b, c.delta)
		}
	}
}

// checkJSONOnly fails unless every non-empty line of out is a JSON object.
func checkJSONOnly(t *testing.T, what, out string) {
	t.Helper()
	lines := 0
	for _, line := range strings.Split(out, "\n") {
		if line == "" {
			continue
		}
		lines++
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Errorf("%s line is not a JSON object: %q", what, line)
		}
	}
	if lines == 0 {
		t.Errorf("%s is empty", what)
	}
}
