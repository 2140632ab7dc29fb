package faults_test

import (
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// tokenServer is `tokenserver serve --migrate` running as its own process.
type tokenServer struct {
	URL     string
	env     []string
	logPath string
	cmd     *exec.Cmd
	exited  chan struct{}
}

// serveFlags are short, production-shaped settings: a dead database shows
// within a second, logins are not throttled by the load (the scenarios
// fail logins on purpose), and argon2id keeps its OWASP defaults.
var serveFlags = []string{
	"serve", "--migrate",
	"--drain-delay", "0s", // every stop would wait it; no load balancer here
	"--db-connect-timeout", "1s",
	"--db-statement-timeout", "2s",
	"--hash-concurrency", "2",
	"--throttle-user-failures", "1000000",
	"--throttle-ip-failures", "1000000",
	"--log-level", "debug",
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startTokenServer starts the server with env (the deployment's
// environment; TOKENSERVER_ADDR and TOKENSERVER_ISSUER must be set) and
// waits until /healthz answers. It stops at test cleanup; if the test
// failed, the tail of the server's log is printed.
func startTokenServer(t *testing.T, env []string, base string) *tokenServer {
	t.Helper()
	s := &tokenServer{URL: base, env: env, logPath: filepath.Join(t.TempDir(), "tokenserver.log"), exited: make(chan struct{})}
	logFile, err := os.Create(s.logPath)
	if err != nil {
		t.Fatal(err)
	}
	s.cmd = exec.Command(serverBinary, serveFlags...)
	s.cmd.Env = env
	s.cmd.Stdout, s.cmd.Stderr = logFile, logFile
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		logFile.Close()
		t.Fatalf("start tokenserver: %v", err)
	}
	go func() { _ = s.cmd.Wait(); logFile.Close(); close(s.exited) }()
	t.Cleanup(func() {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.exited:
		case <-time.After(20 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.exited
		}
		if t.Failed() {
			t.Logf("tokenserver log, warnings and errors:\n%s\ntokenserver log, tail:\n%s", s.logGrep(40, "level=WARN", "level=ERROR"), s.logTail(20))
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-s.exited:
			t.Fatalf("tokenserver exited during start-up:\n%s", s.logTail(60))
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/healthz", nil)
		resp, err := http.DefaultClient.Do(req)
		cancel()
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("tokenserver not healthy after 60s: %v\n%s", err, s.logTail(60))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// logTail returns the last n lines of the server's log.
func (s *tokenServer) logTail(n int) string {
	b, _ := os.ReadFile(s.logPath)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// logGrep returns the last n log lines containing any of words.
func (s *tokenServer) logGrep(n int, words ...string) string {
	b, _ := os.ReadFile(s.logPath)
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		for _, w := range words {
			if strings.Contains(line, w) {
				out = append(out, line)
				break
			}
		}
	}
	if len(out) > n {
		out = out[len(out)-n:]
	}
	return strings.Join(out, "\n")
}

// runCLI runs one admin command of the same binary on the same environment,
// with stdin (passwords and secrets never go on the command line).
func runCLI(env []string, stdin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, serverBinary, args...)
	cmd.Env = env
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func mustCLI(t *testing.T, env []string, stdin string, args ...string) string {
	t.Helper()
	out, err := runCLI(env, stdin, args...)
	if err != nil {
		t.Fatalf("tokenserver %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}
