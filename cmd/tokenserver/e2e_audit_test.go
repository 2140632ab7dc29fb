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

// TestAuditLogEndToEnd: with --audit-log, a server on PostgreSQL and Redis
// and an admin command writing to the same file record a good login, a
// refresh, a reuse, a revoke, bad and throttled logins and the admin
// action, in order, each with schema, id and time, and nothing secret.
func TestAuditLogEndToEnd(t *testing.T) {
	env := productionEnv(t)
	logPath := filepath.Join(t.TempDir(), "audit.log")
	const password = "correct horse battery staple"
	mustRunCLI(t, env, "", "migrate")
	out := mustRunCLI(t, env, "", "client", "add", "--generate-secret", "--scopes", "read", "app")
	_, secret, ok := strings.Cut(out, "client secret (shown once, store it now): ")
	if !ok {
		t.Fatalf("client add did not print the secret:\n%s", out)
	}
	secret = strings.TrimSpace(secret)
	mustRunCLI(t, env, password+"\n", "user", "add", "alice")
	s := startServer(t, env, "--audit-log", logPath, "--throttle-user-failures", "2")
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
	mustRunCLI(t, env, "", "user", "disable", "alice", "--audit-log", logPath)
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}

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
