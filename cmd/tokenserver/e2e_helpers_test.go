package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
	"golang.org/x/oauth2"

	"github.com/tokenserver/tokenserver/internal/e2etest"
)

// envFrom turns a map into a getenv function.
func envFrom(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// runCLI runs one non-serving command through run() and returns its stdout.
func runCLI(t *testing.T, envm map[string]string, stdin string, args ...string) (string, error) {
	t.Helper()
	var out, errOut e2etest.SyncBuffer
	err := run(context.Background(), args, envFrom(envm), strings.NewReader(stdin), &out, &errOut)
	if err != nil {
		return out.String() + errOut.String(), err
	}
	return out.String(), nil
}

// mustRunCLI is runCLI that fails the test on error.
func mustRunCLI(t *testing.T, envm map[string]string, stdin string, args ...string) string {
	t.Helper()
	out, err := runCLI(t, envm, stdin, args...)
	if err != nil {
		t.Fatalf("tokenserver %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// clientSecretMarker precedes the secret `client add --generate-secret`
// prints (cmd/tokenserver/clients.go).
const clientSecretMarker = "client secret (shown once, store it now): "

// addClient runs `client add --generate-secret args...` and returns the
// secret it printed: the rest of the marker's line only, so output added
// after it cannot end up in the secret.
func addClient(t *testing.T, envm map[string]string, args ...string) string {
	t.Helper()
	out := mustRunCLI(t, envm, "", append([]string{"client", "add", "--generate-secret"}, args...)...)
	_, rest, ok := strings.Cut(out, clientSecretMarker)
	if !ok {
		t.Fatalf("client add did not print the secret:\n%s", out)
	}
	secret, _, _ := strings.Cut(rest, "\n")
	secret = strings.TrimSpace(secret)
	if secret == "" {
		t.Fatalf("client add printed an empty secret:\n%s", out)
	}
	return secret
}

// server is one `tokenserver serve` started through run() on a loopback port.
type server struct {
	URL    string
	stdout *e2etest.SyncBuffer
	stderr *e2etest.SyncBuffer
	stop   func() error
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

// startServer runs `serve` with envm (TOKENSERVER_ADDR is set here) and
// waits until /healthz answers. The server stops at test cleanup, or earlier
// through s.stop, which returns run's error (nil after a clean shutdown).
func startServer(t *testing.T, envm map[string]string, args ...string) *server {
	t.Helper()
	addr := envm["TOKENSERVER_ADDR"]
	if addr == "" {
		addr = freeAddr(t)
	}
	// No drain delay unless a test asks for one: every stop would wait it.
	m := map[string]string{"TOKENSERVER_ADDR": addr, "TOKENSERVER_DRAIN_DELAY": "0s"}
	for k, v := range envm {
		m[k] = v
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &server{URL: "http://" + addr, stdout: &e2etest.SyncBuffer{}, stderr: &e2etest.SyncBuffer{}}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"serve"}, args...), envFrom(m), strings.NewReader(""), s.stdout, s.stderr)
	}()
	var once sync.Once
	var stopErr error
	s.stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case stopErr = <-done:
			case <-time.After(20 * time.Second):
				stopErr = fmt.Errorf("server did not stop within 20s")
			}
		})
		return stopErr
	}
	t.Cleanup(func() { _ = s.stop() })

	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case err := <-done:
			t.Fatalf("server exited early: %v\nstderr:\n%s", err, s.stderr.String())
		default:
		}
		resp, err := http.Get(s.URL + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("server not healthy after 20s: %v\nstderr:\n%s", err, s.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *server) oauth2Config(clientID, secret string, scopes ...string) *oauth2.Config {
	return &oauth2.Config{
		ClientID:     clientID,
		ClientSecret: secret,
		Endpoint:     oauth2.Endpoint{TokenURL: s.URL + "/token", AuthStyle: oauth2.AuthStyleInHeader},
		Scopes:       scopes,
	}
}

// refresh forces x/oauth2 to use the refresh token now.
func refresh(ctx context.Context, cfg *oauth2.Config, refreshToken string) (*oauth2.Token, error) {
	return cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: refreshToken, Expiry: time.Now().Add(-time.Hour)}).Token()
}

// verifyWithJWKS checks the access token's signature against the server's
// published JWKS, as a resource server would, and returns its claims.
func verifyWithJWKS(t *testing.T, baseURL, token string) map[string]any {
	t.Helper()
	resp, err := http.Get(baseURL + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("jwks: status %d", resp.StatusCode)
	}
	set, err := jwk.Parse(body)
	if err != nil {
		t.Fatalf("jwks: %v", err)
	}
	payload, err := jws.Verify([]byte(token), jws.WithKeySet(set, jws.WithRequireKid(true)))
	if err != nil {
		t.Fatalf("access token does not verify against the JWKS: %v", err)
	}
	msg, err := jws.Parse([]byte(token))
	if err != nil {
		t.Fatal(err)
	}
	if typ, _ := msg.Signatures()[0].ProtectedHeaders().Type(); typ != "at+jwt" {
		t.Errorf("typ = %q, want at+jwt", typ)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	return claims
}

// retrieveErrorCode returns the OAuth error code of an x/oauth2 error.
func retrieveErrorCode(err error) string {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		return re.ErrorCode
	}
	return ""
}

// introspectActive asks the server's /introspect whether token is active,
// as the confidential client clientID.
func introspectActive(t *testing.T, s *server, clientID, secret, token string) bool {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/introspect", strings.NewReader("token="+token))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(clientID, secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var r struct {
		Active *bool `json:"active"`
	}
	if err := json.Unmarshal(body, &r); err != nil || resp.StatusCode != http.StatusOK || r.Active == nil {
		t.Fatalf("/introspect: status %d, body %s", resp.StatusCode, body)
	}
	return *r.Active
}
