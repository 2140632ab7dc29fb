package main

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokenserver/tokenserver/store/storetest"
)

// tcpProxy forwards loopback connections to target until it is cut: then it
// closes every open connection and every new one, like a database that went
// away.
type tcpProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	down   bool
	conns  map[net.Conn]struct{}
}

func startProxy(t *testing.T, target string) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	t.Cleanup(func() { ln.Close(); p.cut(true) })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.serve(c)
		}
	}()
	return p
}

func (p *tcpProxy) serve(c net.Conn) {
	p.mu.Lock()
	if p.down {
		p.mu.Unlock()
		c.Close()
		return
	}
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		p.mu.Unlock()
		c.Close()
		return
	}
	p.conns[c], p.conns[up] = struct{}{}, struct{}{}
	p.mu.Unlock()
	go func() { _, _ = io.Copy(up, c); up.Close() }()
	_, _ = io.Copy(c, up)
	c.Close()
}

// cut takes the proxy down (closing every connection) or brings it back.
func (p *tcpProxy) cut(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = down
	if down {
		for c := range p.conns {
			c.Close()
		}
		clear(p.conns)
	}
}

// tokenStatus posts a password grant and returns the status and error code.
func tokenStatus(t *testing.T, s *server, secret string) (int, string) {
	t.Helper()
	form := url.Values{"grant_type": {"password"}, "username": {"ann"}, "password": {"pw-of-ann"}}
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("app", secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Error string `json:"error"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body.Error
}

// TestDatabaseOutage: while PostgreSQL is unreachable /token answers 503
// temporarily_unavailable quickly (no hang) and /readyz is 503; when it is
// back, both recover by themselves.
func TestDatabaseOutage(t *testing.T) {
	env := productionEnv(t)
	mustRunCLI(t, env, "", "migrate")
	secret := addClient(t, env, "--scopes", "read", "app")
	mustRunCLI(t, env, "pw-of-ann\n", "user", "add", "ann")

	dsn, err := url.Parse(env["DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	proxy := startProxy(t, dsn.Host)
	dsn.Host = proxy.ln.Addr().String()
	env["DATABASE_URL"] = dsn.String()
	env["TOKENSERVER_DB_CONNECT_TIMEOUT"] = "500ms"
	s := startServer(t, env)
	if code, _ := tokenStatus(t, s, secret); code != http.StatusOK {
		t.Fatalf("before the outage: status %d", code)
	}

	proxy.cut(true)
	start := time.Now()
	code, errCode := tokenStatus(t, s, secret)
	took := time.Since(start)
	if code != http.StatusServiceUnavailable || errCode != "temporarily_unavailable" {
		t.Errorf("during the outage: %d %q, want 503 temporarily_unavailable", code, errCode)
	}
	if took > 5*time.Second {
		t.Errorf("during the outage /token took %v to answer; want a quick 503", took)
	}
	resp, err := http.Get(s.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("/readyz during the outage = %d, want 503", resp.StatusCode)
	}

	proxy.cut(false)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if code, _ := tokenStatus(t, s, secret); code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("/token did not recover within 10s of PostgreSQL coming back")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestRevocationSurvivesRestartAndFlush: a revoked access token stays
// revoked across a server restart, and across FLUSHALL plus a restart (the
// durable record in PostgreSQL reseeds Redis).
func TestRevocationSurvivesRestartAndFlush(t *testing.T) {
	r := newRevocationSetup(t)
	tok := r.login(t)
	revoke(t, r.s, "app", r.secret, tok.AccessToken, "access_token")
	if introspectActive(t, r.s, "app", r.secret, tok.AccessToken) {
		t.Fatal("revoked token active")
	}
	if err := r.s.stop(); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, r.env)
	if introspectActive(t, s, "app", r.secret, tok.AccessToken) {
		t.Error("revoked token active after a restart")
	}
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	storetest.FlushRedis(t)
	s = startServer(t, r.env)
	if introspectActive(t, s, "app", r.secret, tok.AccessToken) {
		t.Error("revoked token active after FLUSHALL and a restart")
	}
}
