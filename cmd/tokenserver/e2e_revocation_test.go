package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/tokenserver/tokenserver/internal/e2etest"
	"github.com/tokenserver/tokenserver/store/storetest"
)

// buildExampleResourceServer builds cmd/example-resource-server once per
// test binary: the revocation tests run it as a separate process, as a
// resource server would be deployed.
var buildExampleResourceServer = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "example-rs-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "example-resource-server")
	out, err := exec.Command("go", "build", "-o", bin, "../example-resource-server").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build example-resource-server: %v\n%s", err, out)
	}
	return bin, nil
})

// resourceServer is a running example-resource-server process.
type resourceServer struct {
	URL    string
	stderr *e2etest.SyncBuffer
}

func startResourceServer(t *testing.T, args ...string) *resourceServer {
	t.Helper()
	bin, err := buildExampleResourceServer()
	if err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	rs := &resourceServer{URL: "http://" + addr, stderr: &e2etest.SyncBuffer{}}
	cmd := exec.Command(bin, append([]string{"--addr", addr}, args...)...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	cmd.Stderr = rs.stderr
	cmd.Stdout = rs.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(rs.URL + "/hello")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusUnauthorized { // up, and asking for a token
				return rs
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("resource server not up after 20s: %v\n%s", err, rs.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// status calls GET /hello with the access token.
func (rs *resourceServer) status(t *testing.T, accessToken string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, rs.URL+"/hello", nil)
	req.Header.Set("Authorization", "Bearer "+accessToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// rejectedWithin polls until the resource server rejects the token, and
// fails the test if that takes longer than d.
func (rs *resourceServer) rejectedWithin(t *testing.T, accessToken string, d time.Duration, what string) {
	t.Helper()
	start := time.Now()
	for {
		if rs.status(t, accessToken) == http.StatusUnauthorized {
			t.Logf("%s: rejected after %v", what, time.Since(start).Round(time.Millisecond))
			return
		}
		if time.Since(start) > d {
			t.Fatalf("%s: still accepted after %v\nresource server log:\n%s", what, d, rs.stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// revoke posts to /revoke as the client.
func revoke(t *testing.T, s *server, clientID, secret, token, hint string) {
	t.Helper()
	form := url.Values{"token": {token}}
	if hint != "" {
		form.Set("token_type_hint", hint)
	}
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/revoke", bytes.NewBufferString(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(clientID, secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/revoke: status %d", resp.StatusCode)
	}
}

// revocationSetup is a production token server with a client, a user, and
// the environment it runs in.
type revocationSetup struct {
	env    map[string]string
	s      *server
	secret string
	cfg    *oauth2.Config
	redis  storetest.RedisTarget
}

func newRevocationSetup(t *testing.T) *revocationSetup {
	t.Helper()
	return newRevocationSetupEnv(t, productionEnv(t))
}

// newRevocationSetupEnv is newRevocationSetup in a given environment.
func newRevocationSetupEnv(t *testing.T, env map[string]string) *revocationSetup {
	t.Helper()
	mustRunCLI(t, env, "", "migrate")
	secret := addClient(t, env, "--scopes", "read,write", "app")
	mustRunCLI(t, env, "pw-of-max\n", "user", "add", "max")
	s := startServer(t, env)
	return &revocationSetup{env: env, s: s, secret: secret, cfg: s.oauth2Config("app", secret, "read"),
		redis: storetest.RedisTarget{Addr: strings.TrimPrefix(env["REDIS_URL"], "redis://"), Prefix: env["TOKENSERVER_REDIS_PREFIX"]}}
}

func (r *revocationSetup) login(t *testing.T) *oauth2.Token {
	t.Helper()
	tok, err := r.cfg.PasswordCredentialsToken(context.Background(), "max", "pw-of-max")
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestRevocationReachesResourceServer: a resource server that verifies JWTs
// locally (example-resource-server, a separate process) stops accepting a
// token within one second of its revocation — by access token, by refresh
// token (the family's access tokens), and by user revoke-all — over the
// server-sent-events feed and over Redis pub/sub.
func TestRevocationReachesResourceServer(t *testing.T) {
	r := newRevocationSetup(t)
	for _, mode := range []string{"sse", "redis"} {
		t.Run(mode, func(t *testing.T) {
			args := []string{"--issuer", r.s.URL, "--audience", r.s.URL, "--revocation", mode}
			if mode == "sse" {
				args = append(args, "--client-id", "app", "--client-secret", r.secret)
			} else {
				args = append(args, "--redis-url", r.env["REDIS_URL"], "--redis-prefix", r.env["TOKENSERVER_REDIS_PREFIX"])
			}
			rs := startResourceServer(t, args...)

			tok := r.login(t)
			if got := rs.status(t, tok.AccessToken); got != http.StatusOK {
				t.Fatalf("fresh token: status %d\n%s", got, rs.stderr.String())
			}
			revoke(t, r.s, "app", r.secret, tok.AccessToken, "access_token")
			rs.rejectedWithin(t, tok.AccessToken, time.Second, "access token revoked")

			tok = r.login(t)
			revoke(t, r.s, "app", r.secret, tok.RefreshToken, "refresh_token")
			rs.rejectedWithin(t, tok.AccessToken, time.Second, "refresh token (family) revoked")
			if _, err := refresh(context.Background(), r.cfg, tok.RefreshToken); retrieveErrorCode(err) != "invalid_grant" {
				t.Errorf("refresh after revocation: %v", err)
			}

			tok = r.login(t)
			time.Sleep(1100 * time.Millisecond) // revoke-all covers tokens issued in earlier seconds
			mustRunCLI(t, r.env, "", "user", "revoke-sessions", "max")
			rs.rejectedWithin(t, tok.AccessToken, time.Second, "user revoke-all")
			time.Sleep(1100 * time.Millisecond)
			if fresh := r.login(t); rs.status(t, fresh.AccessToken) != http.StatusOK {
				t.Error("a token issued after revoke-all is rejected")
			}
		})
	}
}

// TestRevocationSurvivesRedisRestart: Redis restarts empty (no persistence);
// the token server reseeds it from PostgreSQL, the resource server
// reconnects and reloads the set, an old revocation still holds and a new one
// still arrives within a second.
func TestRevocationSurvivesRedisRestart(t *testing.T) {
	r := newRevocationSetup(t)
	rs := startResourceServer(t, "--issuer", r.s.URL, "--audience", r.s.URL, "--revocation", "redis",
		"--redis-url", r.env["REDIS_URL"], "--redis-prefix", r.env["TOKENSERVER_REDIS_PREFIX"])
	old := r.login(t)
	revoke(t, r.s, "app", r.secret, old.AccessToken, "")
	rs.rejectedWithin(t, old.AccessToken, time.Second, "before restart")

	storetest.RestartRedis(t)

	// Keep asking for a token until the token server's Redis is back.
	var tok *oauth2.Token
	deadline := time.Now().Add(15 * time.Second)
	for {
		var err error
		tok, err = r.cfg.PasswordCredentialsToken(context.Background(), "max", "pw-of-max")
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no login after Redis restart: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Give both sides time to reconnect (go-redis retries, the feed pings).
	deadline = time.Now().Add(20 * time.Second)
	for {
		revoke(t, r.s, "app", r.secret, tok.AccessToken, "")
		if rs.status(t, tok.AccessToken) == http.StatusUnauthorized {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("revocation after Redis restart never reached the resource server\n%s", rs.stderr.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	probe := r.login(t)
	revoke(t, r.s, "app", r.secret, probe.AccessToken, "")
	rs.rejectedWithin(t, probe.AccessToken, time.Second, "after reconnect")
	// The revocation from before the restart was reseeded from PostgreSQL.
	deadline = time.Now().Add(5 * time.Second)
	for rs.status(t, old.AccessToken) != http.StatusUnauthorized {
		if time.Now().After(deadline) {
			t.Fatal("revocation from before the Redis restart was lost")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
