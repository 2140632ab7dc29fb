// Package examples runs the resource servers of docs/resource-servers.md,
// as they are written, against a real token server (package tokenserver on
// the in-memory store, on a loopback port).
package examples

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokenserver/tokenserver/internal/e2etest"
	"github.com/tokenserver/tokenserver/internal/issuertest"
)

const (
	apiAudience = "https://api.example.com"
	apiSecret   = "api-secret-0123456789abcdefghijklmnopqrstuvwxyz"
	// hangBound ends a wait that is a hang, not a result.
	hangBound = 30 * time.Second
)

// startIssuer starts the token server registered as the README's
// Production section says: my-app with --audience https://api.example.com,
// the resource server's own client "api" without grants, and other-app
// registered without --audience (its tokens' aud is the issuer).
func startIssuer(t *testing.T) *issuertest.Issuer {
	t.Helper()
	is, err := issuertest.Start(issuertest.Config{
		Clients: []issuertest.Client{
			{ID: "my-app", Secret: "my-app-secret-0123456789abcdefghijklmnopqrstuvwxyz",
				Scopes: []string{"read", "write"}, Audience: []string{apiAudience}},
			{ID: "other-app", Secret: "other-app-secret-0123456789abcdefghijklmnopqrstuvwxyz",
				Scopes: []string{"read", "write"}},
			{ID: "api", Secret: apiSecret, Grants: []string{}},
		},
		Users: []issuertest.User{{Name: "alice", Password: "alice-password"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(is.Close)
	return is
}

func token(t *testing.T, is *issuertest.Issuer, clientID, scope string) string {
	t.Helper()
	tok, err := is.Token(clientID, "alice", scope)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// missing skips the test for a missing tool locally and fails it when
// CI=true, like the storage tests.
func missing(t *testing.T, what string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s (CI=true: not skipping)", what)
	}
	t.Skip(what)
}

// server is a resource server process.
type server struct {
	URL   string
	lines chan string // its stdout after the "listening on" line
}

// start runs cmd (in env, plus ISSUER etc. for is) until the test ends and
// waits for its "listening on URL" line.
func start(t *testing.T, is *issuertest.Issuer, cmd *exec.Cmd, env ...string) *server {
	t.Helper()
	cmd.Env = append(os.Environ(), append([]string{
		"ISSUER=" + is.URL, "AUDIENCE=" + apiAudience, "CLIENT_ID=api", "CLIENT_SECRET=" + apiSecret, "PORT=0",
	}, env...)...)
	var stderr e2etest.SyncBuffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("%s stderr:\n%s", filepath.Base(cmd.Path), stderr.String())
		}
	})
	s := &server{lines: make(chan string, 100)}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			s.lines <- sc.Text()
		}
		close(s.lines)
	}()
	line := s.waitLine(t, "listening on ")
	s.URL = strings.TrimPrefix(line, "listening on ")
	return s
}

// waitLine returns the next stdout line starting with prefix.
func (s *server) waitLine(t *testing.T, prefix string) string {
	t.Helper()
	timeout := time.After(hangBound)
	for {
		select {
		case line, ok := <-s.lines:
			if !ok {
				t.Fatalf("server exited before printing %q", prefix)
			}
			if strings.HasPrefix(line, prefix) {
				return line
			}
		case <-timeout:
			t.Fatalf("no %q line within %s", prefix, hangBound)
		}
	}
}

type answer struct {
	status int
	www    string // WWW-Authenticate
	body   string
}

func get(t *testing.T, url, token string) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url+"/hello", nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	client := &http.Client{Timeout: hangBound}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{resp.StatusCode, resp.Header.Get("WWW-Authenticate"), string(body)}
}

// checkResourceServer runs the cases both guides promise against the
// running resource server s.
func checkResourceServer(t *testing.T, is *issuertest.Issuer, s *server) {
	t.Helper()
	valid := token(t, is, "my-app", "read")
	want := func(name string, got, want answer) {
		t.Helper()
		if got != want {
			t.Fatalf("%s: got %+v, want %+v", name, got, want)
		}
	}
	want("valid token", get(t, s.URL, valid), answer{200, "", "hello alice"})
	want("no token", get(t, s.URL, ""), answer{401, "Bearer", ""})
	want("token for the issuer's default audience", get(t, s.URL, token(t, is, "other-app", "read")),
		answer{401, `Bearer error="invalid_token", error_description="audience mismatch: the token is not for ` + apiAudience + `"`, ""})
	want("missing scope", get(t, s.URL, token(t, is, "my-app", "write")),
		answer{403, `Bearer error="insufficient_scope", error_description="The access token lacks a required scope", scope="read"`, ""})
	want("tampered token", get(t, s.URL, valid[:len(valid)-4]+"AAAA"),
		answer{401, `Bearer error="invalid_token", error_description="The access token is invalid"`, ""})

	// A token accepted before is refused once revoked: by its jti
	// (POST /revoke of the access token), by its session (POST /revoke of
	// the refresh token: sid) and by its user (user revoke-sessions: sub,
	// for tokens issued until then).
	revocations := []struct {
		name   string
		revoke func(access, refresh string) error
	}{
		{"jti", func(access, _ string) error { return is.Revoke("my-app", access) }},
		{"sid", func(_, refresh string) error { return is.Revoke("my-app", refresh) }},
		{"sub", func(_, _ string) error { return is.EndUserSessions("alice") }},
	}
	for _, r := range revocations {
		access, refresh, err := is.Login("my-app", "alice", "read")
		if err != nil {
			t.Fatal(err)
		}
		other := token(t, is, "my-app", "read") // another session of the same user
		want(r.name+": before", get(t, s.URL, access), answer{200, "", "hello alice"})
		if err := r.revoke(access, refresh); err != nil {
			t.Fatal(err)
		}
		waitRevoked(t, s, r.name, access)
		if r.name != "sub" {
			want(r.name+": another session", get(t, s.URL, other), answer{200, "", "hello alice"})
		} else {
			want(r.name+": another session", get(t, s.URL, other), revokedAnswer)
		}
	}
}

var revokedAnswer = answer{401, `Bearer error="invalid_token", error_description="The access token has been revoked"`, ""}

// waitRevoked polls until the server refuses token as revoked, the token
// being accepted until then: the revocation arrives over the stream (Node)
// or the cached introspection answer ends (Python).
func waitRevoked(t *testing.T, s *server, what, token string) {
	t.Helper()
	deadline := time.Now().Add(hangBound)
	for got := get(t, s.URL, token); got != revokedAnswer; got = get(t, s.URL, token) {
		if got.status != 200 || time.Now().After(deadline) {
			t.Fatalf("%s revocation: got %+v, want 200 until the revocation arrives, then %+v", what, got, revokedAnswer)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestNodeResourceServer runs docs/examples/node (jose, JWKS, SSE
// revocation feed) with Node.js; jose comes from the npm registry.
func TestNodeResourceServer(t *testing.T) {
	node, dir := npmInstall(t, "node", "package.json", "package-lock.json", "resource-server.mjs")

	is := startIssuer(t)
	cmd := exec.Command(node, "resource-server.mjs")
	cmd.Dir = dir
	s := start(t, is, cmd)
	s.waitLine(t, "revocation snapshot loaded")
	checkResourceServer(t, is, s)
}

// npmInstall copies files of src to a temporary directory and installs
// their locked npm packages there (from the npm registry or npm's cache).
// It returns the node binary and the directory.
func npmInstall(t *testing.T, src string, files ...string) (node, dir string) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		missing(t, "node not found: the Node examples' tests need Node.js 20+ and npm")
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		missing(t, "npm not found: the Node examples' tests need Node.js 20+ and npm")
	}
	dir = t.TempDir()
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	install := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund", "--loglevel=error")
	install.Dir = dir
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("npm ci (needs the npm registry or a warm npm cache): %v\n%s", err, out)
	}
	return node, dir
}

// TestPythonResourceServer runs docs/examples/python (PyJWT, PyJWKClient,
// introspection with a short cache) with a python3 that has PyJWT and
// cryptography: the one in PATH, or Debian's (scripts/test-deps.sh
// installs python3-jwt).
func TestPythonResourceServer(t *testing.T) {
	python := ""
	for _, p := range []string{"python3", "/usr/bin/python3"} {
		if path, err := exec.LookPath(p); err == nil && exec.Command(path, "-c", "import jwt, cryptography").Run() == nil {
			python = path
			break
		}
	}
	if python == "" {
		missing(t, "no python3 with PyJWT and cryptography: run scripts/test-deps.sh (Debian: python3-jwt) or pip install 'pyjwt[crypto]'")
	}
	is := startIssuer(t)
	script, err := filepath.Abs(filepath.Join("python", "resource_server.py"))
	if err != nil {
		t.Fatal(err)
	}
	// A token revoked before the server saw it is refused at once; one it
	// saw, when its cached answer ends: 0.2 s keeps the test short.
	s := start(t, is, exec.Command(python, "-u", script), "CACHE_SECONDS=0.2")
	stolen := token(t, is, "my-app", "read")
	if err := is.Revoke("my-app", stolen); err != nil {
		t.Fatal(err)
	}
	if got := get(t, s.URL, stolen); got != revokedAnswer {
		t.Fatalf("token revoked before its first use: got %+v, want %+v", got, revokedAnswer)
	}
	checkResourceServer(t, is, s)
}

// TestGuideQuotesTheTestedFiles: every js and python block of
// docs/resource-servers.md is a verbatim excerpt of the file the tests
// above run, so the guide cannot drift from what is tested.
func TestGuideQuotesTheTestedFiles(t *testing.T) {
	guide, err := os.ReadFile(filepath.Join("..", "resource-servers.md"))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{"js": filepath.Join("node", "resource-server.mjs"), "python": filepath.Join("python", "resource_server.py")}
	quoted := map[string]int{}
	rest := string(guide)
	for {
		_, after, ok := strings.Cut(rest, "```")
		if !ok {
			break
		}
		lang, after, _ := strings.Cut(after, "\n")
		block, after, ok := strings.Cut(after, "```")
		if !ok {
			t.Fatal("unterminated code block")
		}
		rest = after
		file, ok := files[lang]
		if !ok {
			continue
		}
		src, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(src), block) {
			t.Errorf("a %s block of the guide is not in %s:\n%s", lang, file, block)
		}
		quoted[lang]++
	}
	if quoted["js"] == 0 || quoted["python"] == 0 {
		t.Fatalf("quoted blocks: %v, want some of each", quoted)
	}
}
