package examples

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/tokenserver/tokenserver/dpop"
	"github.com/tokenserver/tokenserver/internal/issuertest"
	"github.com/tokenserver/tokenserver/verifier"
)

// nonceSecret is shared by the token server and the resource server here
// only for brevity; each may have its own.
const nonceSecret = "a DPoP nonce secret of at least 32 bytes"

// dpopIssuer is a token server requiring DPoP nonces (RFC 9449 §8), with
// the public client "mobile" (a phone app: no secret) and the confidential
// "my-app", both for the API's audience.
func dpopIssuer(t *testing.T) *issuertest.Issuer {
	t.Helper()
	is, err := issuertest.Start(issuertest.Config{
		Clients: []issuertest.Client{
			{ID: "mobile", Scopes: []string{"read"}, Audience: []string{apiAudience}},
			{ID: "my-app", Secret: "my-app-secret-0123456789abcdefghijklmnopqrstuvwxyz",
				Scopes: []string{"read", "write"}, Audience: []string{apiAudience}},
		},
		Users:           []issuertest.User{{Name: "alice", Password: "alice-password"}},
		DPoPNonceSecret: []byte(nonceSecret),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(is.Close)
	return is
}

// resourceServer is a verifier-backed resource server on a real loopback
// listener accepting both schemes, requiring its own DPoP nonces (§9). It
// records the scheme of every request it accepted.
type resourceServer struct {
	URL string

	mu      sync.Mutex
	schemes []string
}

func startResourceServer(t *testing.T, is *issuertest.Issuer) *resourceServer {
	t.Helper()
	nonces, err := dpop.NewNonces([]byte(nonceSecret), 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	v, err := verifier.New(context.Background(), verifier.Config{
		Issuer: is.URL, Audience: apiAudience, DPoP: verifier.DPoPConfig{Nonces: nonces},
	})
	if err != nil {
		t.Fatal(err)
	}
	rs := &resourceServer{}
	srv := httptest.NewServer(verifier.Middleware(v, "read")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scheme, _, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		rs.mu.Lock()
		rs.schemes = append(rs.schemes, scheme)
		rs.mu.Unlock()
		fmt.Fprintf(w, "hello %s", verifier.ClaimsFromContext(r.Context()).Username)
	})))
	t.Cleanup(srv.Close)
	rs.URL = srv.URL
	return rs
}

func (rs *resourceServer) accepted() []string {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return append([]string(nil), rs.schemes...)
}

// TestNodeDPoPClient runs docs/examples/node-dpop-client: an independent
// DPoP client (panva/oauth4webapi, from the npm registry) doing the
// password grant, a refresh and two resource calls with DPoP against the
// real token server and a verifier-backed resource server, both asking for
// nonces first.
func TestNodeDPoPClient(t *testing.T) {
	node, dir := npmInstall(t, "node-dpop-client", "package.json", "package-lock.json", "dpop-client.mjs")
	is := dpopIssuer(t)
	rs := startResourceServer(t, is)

	ctx, cancel := context.WithTimeout(context.Background(), hangBound)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "dpop-client.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "ISSUER="+is.URL, "RESOURCE_URL="+rs.URL+"/hello", "CLIENT_ID=mobile",
		"USERNAME=alice", "PASSWORD=alice-password", "SCOPE=read")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node dpop-client.mjs: %v\nstderr:\n%s", err, stderr.String())
	}
	var got struct {
		JKT              string `json:"jkt"`
		LoginTokenType   string `json:"login_token_type"`
		RefreshTokenType string `json:"refresh_token_type"`
		RefreshRotated   bool   `json:"refresh_rotated"`
		First, Second    string
		NonceRetries     struct{ Token, Resource int } `json:"nonce_retries"`
		AccessToken      string                        `json:"access_token"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("output %q: %v", out, err)
	}
	if got.LoginTokenType != "dpop" || got.RefreshTokenType != "dpop" || !got.RefreshRotated {
		t.Errorf("token types %q/%q, refresh rotated %v: want dpop/dpop, true", got.LoginTokenType, got.RefreshTokenType, got.RefreshRotated)
	}
	if got.First != "hello alice" || got.Second != "hello alice" {
		t.Errorf("resource answers %q, %q", got.First, got.Second)
	}
	// Each server asked once for its nonce; the client kept each one.
	if got.NonceRetries.Token != 1 || got.NonceRetries.Resource != 1 {
		t.Errorf("nonce retries %+v, want one at the token endpoint and one at the resource", got.NonceRetries)
	}
	if s := rs.accepted(); len(s) != 2 || s[0] != "DPoP" || s[1] != "DPoP" {
		t.Errorf("schemes accepted by the resource server: %q", s)
	}
	// The token the client ended with is bound to its key: useless to
	// anyone who copies it.
	if cnf := claim(t, got.AccessToken, "cnf"); cnf == nil || cnf.(map[string]any)["jkt"] != got.JKT {
		t.Errorf("cnf = %v, want jkt %s", cnf, got.JKT)
	}
	if a := get(t, rs.URL, got.AccessToken); a.status != 401 || !strings.Contains(a.www, `error="invalid_token"`) {
		t.Errorf("the client's token as a bearer token: %+v", a)
	}
}

// TestOAuth2BearerClient: a Bearer-only client (golang.org/x/oauth2, which
// knows nothing of DPoP) gets and uses bearer tokens from servers that
// support DPoP.
func TestOAuth2BearerClient(t *testing.T) {
	is := dpopIssuer(t)
	rs := startResourceServer(t, is)
	ctx, cancel := context.WithTimeout(context.Background(), hangBound)
	defer cancel()
	conf := &oauth2.Config{
		ClientID: "my-app", ClientSecret: "my-app-secret-0123456789abcdefghijklmnopqrstuvwxyz",
		Endpoint: oauth2.Endpoint{TokenURL: is.URL + "/token", AuthStyle: oauth2.AuthStyleInHeader},
		Scopes:   []string{"read"},
	}
	tok, err := conf.PasswordCredentialsToken(ctx, "alice", "alice-password")
	if err != nil {
		t.Fatal(err)
	}
	if tok.Type() != "Bearer" || claim(t, tok.AccessToken, "cnf") != nil {
		t.Fatalf("token type %q, cnf %v: want an unbound bearer token", tok.Type(), claim(t, tok.AccessToken, "cnf"))
	}
	// Refresh through the token source, then call the resource with it.
	tok.Expiry = time.Now().Add(-time.Minute)
	client := conf.Client(ctx, tok)
	resp, err := client.Get(rs.URL + "/hello")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "hello alice" {
		t.Fatalf("resource: %d %q", resp.StatusCode, body)
	}
	if s := rs.accepted(); len(s) != 1 || s[0] != "Bearer" {
		t.Fatalf("schemes accepted: %q", s)
	}
}

// claim decodes one claim of a JWT without verifying it (the verifier
// checks the tokens; this only looks).
func claim(t *testing.T, jwt, name string) any {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", jwt)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(raw, &claims); err != nil {
		t.Fatal(err)
	}
	return claims[name]
}
