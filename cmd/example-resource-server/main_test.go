package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"

	"github.com/tokenserver/tokenserver/store"
	"github.com/tokenserver/tokenserver/store/feedwire"
	"github.com/tokenserver/tokenserver/store/redis"
	"github.com/tokenserver/tokenserver/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

const (
	audience = "https://api.example.test"
	clientID = "api"
	secret   = "api-secret"
)

// issuer is a stand-in token server: discovery, JWKS, the revocation
// stream and introspection, with one real ES256 key made per test.
type issuer struct {
	url  string
	priv *ecdsa.PrivateKey

	mu      sync.Mutex
	revoked map[string]bool
	revs    []store.Revocation
	streams []chan store.Revocation
}

func newIssuer(t *testing.T) *issuer {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	is := &issuer{priv: priv, revoked: map[string]bool{}}
	pub, err := jwk.Import(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	_ = pub.Set(jwk.KeyIDKey, "k1")
	_ = pub.Set(jwk.AlgorithmKey, "ES256")
	jwks, _ := json.Marshal(map[string]any{"keys": []any{pub}})
	authorized := func(r *http.Request) bool {
		id, sec, ok := r.BasicAuth()
		return ok && id == clientID && sec == secret
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/oauth-authorization-server", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"issuer":%q,"jwks_uri":%q,"introspection_endpoint":%q}`, is.url, is.url+"/jwks", is.url+"/introspect")
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=300")
		w.Write(jwks)
	})
	mux.HandleFunc("POST /introspect", func(w http.ResponseWriter, r *http.Request) {
		if !authorized(r) {
			http.Error(w, "", http.StatusUnauthorized)
			return
		}
		is.mu.Lock()
		defer is.mu.Unlock()
		fmt.Fprintf(w, `{"active":%v}`, !is.revoked[r.PostFormValue("token")])
	})
	mux.HandleFunc("GET /revocations/stream", func(w http.ResponseWriter, r *http.Request) {
		if !authorized(r) {
			http.Error(w, "", http.StatusUnauthorized)
			return
		}
		ch := make(chan store.Revocation, 8)
		is.mu.Lock()
		snap, _ := json.Marshal(feedwire.SnapshotOf(is.revs))
		is.streams = append(is.streams, ch)
		is.mu.Unlock()
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprintf(w, "event: snapshot\ndata: %s\n\n", snap)
		w.(http.Flusher).Flush()
		for {
			select {
			case <-r.Context().Done():
				return
			case rev := <-ch:
				b, _ := json.Marshal(feedwire.From(rev))
				fmt.Fprintf(w, "event: revoke\ndata: %s\n\n", b)
				w.(http.Flusher).Flush()
			}
		}
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	is.url = srv.URL
	return is
}

func (is *issuer) token(t *testing.T, jti, scope string) string {
	t.Helper()
	return is.tokenWith(t, jti, scope, nil)
}

// tokenWith is token with more claims.
func (is *issuer) tokenWith(t *testing.T, jti, scope string, extra map[string]any) string {
	t.Helper()
	now := time.Now()
	claims := map[string]any{
		"iss": is.url, "sub": "u1", "aud": audience, "exp": now.Add(time.Minute).Unix(), "iat": now.Unix(),
		"jti": jti, "client_id": "app", "scope": scope, "sid": "s1", "username": "alice",
	}
	for k, v := range extra {
		claims[k] = v
	}
	payload, _ := json.Marshal(claims)
	h := jws.NewHeaders()
	_ = h.Set("kid", "k1")
	_ = h.Set("typ", "at+jwt")
	tok, err := jws.Sign(payload, jws.WithKey(jwa.ES256(), is.priv, jws.WithProtectedHeaders(h)))
	if err != nil {
		t.Fatal(err)
	}
	return string(tok)
}

// revoke revokes a token in every way the modes read it.
func (is *issuer) revoke(token, jti string) {
	r := store.Revocation{Kind: store.RevokeJTI, Value: jti, ExpiresAt: time.Now().Add(time.Hour), CreatedAt: time.Now()}
	is.mu.Lock()
	defer is.mu.Unlock()
	is.revoked[token] = true
	is.revs = append(is.revs, r)
	for _, ch := range is.streams {
		ch <- r
	}
}

// syncBuffer is an io.Writer safe for the server goroutine and the test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func get(t *testing.T, u, token string) (int, string, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", u, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("WWW-Authenticate"), string(body)
}

// serve runs the program with args and env until the test ends and
// returns its base URL.
func serve(t *testing.T, args []string, env map[string]string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr syncBuffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, args, func(k string) string { return env[k] }, &stdout, &stderr) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("run did not stop after cancel")
		}
	})
	addr := regexp.MustCompile(`listening on (\S+)`)
	var base string
	deadline := time.Now().Add(10 * time.Second)
	for base == "" {
		if m := addr.FindStringSubmatch(stdout.String()); m != nil {
			base = m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("server did not start; stderr:\n%s", stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	return base
}

func TestServe(t *testing.T) {
	for _, mode := range []string{"none", "sse", "introspect", "redis"} {
		t.Run(mode, func(t *testing.T) {
			is := newIssuer(t)
			args := []string{"--addr", "127.0.0.1:0", "--revocation", mode, "--introspect-cache-ttl", "50ms"}
			env := map[string]string{
				"RESOURCE_ISSUER": is.url, "RESOURCE_AUDIENCE": audience,
				"RESOURCE_CLIENT_ID": clientID, "RESOURCE_CLIENT_SECRET": secret,
			}
			var publish func(jti string)
			if mode == "redis" {
				target := storetest.StartRedis(t)
				env["REDIS_URL"] = target.URL()
				args = append(args, "--redis-prefix", target.Prefix)
				st, err := redis.Open(context.Background(), redis.Config{URL: target.URL(), Prefix: target.Prefix})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { st.Close() })
				// As the token server's reseed does: without the marker
				// the snapshot refuses an unseeded cache.
				token, err := st.BeginSeed(context.Background())
				if err == nil {
					err = st.CompleteSeed(context.Background(), token)
				}
				if err != nil {
					t.Fatal(err)
				}
				publish = func(jti string) {
					r := store.Revocation{Kind: store.RevokeJTI, Value: jti, ExpiresAt: time.Now().Add(time.Hour), CreatedAt: time.Now()}
					if err := st.Revoke(context.Background(), r); err != nil {
						t.Fatal(err)
					}
					if err := st.Publish(context.Background(), r); err != nil {
						t.Fatal(err)
					}
				}
			}
			base := serve(t, args, env)

			tok := is.token(t, "jti-1", "read")
			if code, _, body := get(t, base+"/hello", tok); code != 200 || body != "hello alice\n" {
				t.Fatalf("GET /hello = %d %q", code, body)
			}
			if code, www, _ := get(t, base+"/hello", ""); code != 401 || www != `Bearer realm="`+audience+`"` {
				t.Fatalf("no token: %d %q", code, www)
			}
			if code, www, _ := get(t, base+"/hello", is.token(t, "jti-2", "write")); code != 403 || !strings.Contains(www, `error="insufficient_scope", `) || !strings.Contains(www, `scope="read"`) {
				t.Fatalf("no read scope: %d %q", code, www)
			}
			if mode == "none" {
				return
			}
			is.revoke(tok, "jti-1")
			if publish != nil {
				publish("jti-1")
			}
			deadline := time.Now().Add(2 * time.Second)
			for {
				code, www, _ := get(t, base+"/hello", tok)
				if code == 401 && strings.Contains(www, `error="invalid_token"`) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("revoked token still answered %d", code)
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}

func TestOptions(t *testing.T) {
	base := map[string]string{"RESOURCE_ISSUER": "https://auth.example", "RESOURCE_AUDIENCE": audience}
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string // error substring; "" means valid
	}{
		{"env twins", []string{"--revocation", "none"}, base, ""},
		{"no issuer", []string{"--audience", "a", "--revocation", "none"}, nil, "--issuer is required"},
		{"no audience", []string{"--issuer", "https://x", "--revocation", "none"}, nil, "--audience is required"},
		{"unknown mode", []string{"--revocation", "poll"}, base, "want sse, redis, introspect or none"},
		{"sse without client", []string{"--revocation", "sse"}, base, "needs --client-id"},
		{"redis without URL", []string{"--revocation", "redis"}, base, "needs --redis-url"},
		{"bad env value", []string{"--revocation", "none"}, map[string]string{"RESOURCE_ISSUER": "https://x", "RESOURCE_AUDIENCE": "a", "RESOURCE_ALLOW_HTTP": "maybe"}, "RESOURCE_ALLOW_HTTP"},
		{"stray argument", []string{"--revocation", "none", "extra"}, base, "unexpected arguments"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			o, err := parseOptions(tc.args, func(k string) string { return tc.env[k] }, &stderr)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if o.issuer != tc.env["RESOURCE_ISSUER"] || o.audience != audience {
					t.Fatalf("options = %+v", o)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}
