package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/tokenserver/tokenserver/internal/e2etest"
)

// TestDrainOnSignal: after the first signal (ctx cancelled) /readyz
// answers 503 "draining" while /token and /healthz still answer 200; the
// server stops only when the drain delay ends, here cut short by the
// second signal (force), so the test never waits on a clock.
func TestDrainOnSignal(t *testing.T) {
	addr := freeAddr(t)
	base := "http://" + addr
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	force := make(chan struct{})
	stderr := &e2etest.SyncBuffer{}
	e := env{
		getenv: envFrom(map[string]string{"TOKENSERVER_ADDR": addr, "TOKENSERVER_DRAIN_DELAY": "1h"}),
		stdin:  strings.NewReader(""), stdout: &e2etest.SyncBuffer{}, stderr: stderr, force: force,
	}
	// finished is closed when runEnv has returned runErr.
	var runErr error
	finished := make(chan struct{})
	go func() { runErr = runEnv(ctx, e, []string{"serve"}); close(finished) }()
	forced := false
	t.Cleanup(func() {
		cancel()
		if !forced {
			close(force)
		}
		<-finished
	})
	exited := func() {
		select {
		case <-finished:
			t.Fatalf("serve returned during the drain: %v\n%s", runErr, stderr)
		default:
		}
	}
	get := func(path string) (int, string) {
		resp, err := http.Get(base + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	eventually(t, 30*time.Second, "/readyz 200 after start", func() bool {
		exited()
		code, _ := get("/readyz")
		return code == http.StatusOK
	})

	cancel() // the first SIGTERM
	eventually(t, 30*time.Second, "/readyz 503 draining", func() bool {
		exited()
		code, body := get("/readyz")
		return code == http.StatusServiceUnavailable && body == "draining\n"
	})
	cfg := &oauth2.Config{ClientID: "demo-client", ClientSecret: "demo-secret",
		Endpoint: oauth2.Endpoint{TokenURL: base + "/token", AuthStyle: oauth2.AuthStyleInHeader}}
	if _, err := cfg.PasswordCredentialsToken(context.Background(), "demo", "demo-password"); err != nil {
		t.Errorf("/token while draining: %v", err)
	}
	if code, body := get("/healthz"); code != http.StatusOK {
		t.Errorf("/healthz while draining: %d %q", code, body)
	}
	exited()
	if !strings.Contains(stderr.String(), "draining") {
		t.Errorf("no drain line in the log:\n%s", stderr)
	}

	forced = true
	close(force) // the second signal
	select {
	case <-finished:
		if runErr != nil {
			t.Fatalf("serve: %v", runErr)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop within 30s of the second signal")
	}
	if code, _ := get("/healthz"); code != 0 {
		t.Errorf("/healthz after the stop answered %d; the listener should be closed", code)
	}
}

// TestInterruptSkipsDrain: an interrupt closes force together with the
// context (shutdownSignals), so serve stops at once even with an hour of
// drain delay: Ctrl-C at `make run` does not wait.
func TestInterruptSkipsDrain(t *testing.T) {
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	force := make(chan struct{})
	stderr := &e2etest.SyncBuffer{}
	e := env{
		getenv: envFrom(map[string]string{"TOKENSERVER_ADDR": addr, "TOKENSERVER_DRAIN_DELAY": "1h"}),
		stdin:  strings.NewReader(""), stdout: &e2etest.SyncBuffer{}, stderr: stderr, force: force,
	}
	finished := make(chan error, 1)
	go func() { finished <- runEnv(ctx, e, []string{"serve"}) }()
	eventually(t, 30*time.Second, "/healthz 200 after start", func() bool {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	close(force) // the interrupt: both at once
	cancel()
	select {
	case err := <-finished:
		if err != nil {
			t.Fatalf("serve: %v", err)
		}
	case <-time.After(30 * time.Second): // a hang detector: the drain delay is an hour
		t.Fatalf("serve did not stop within 30s of an interrupt\n%s", stderr)
	}
	if strings.Contains(stderr.String(), "draining:") {
		t.Errorf("an interrupt drained:\n%s", stderr)
	}
}
