package verifier_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"

	"github.com/tokenserver/tokenserver/store"
	"github.com/tokenserver/tokenserver/store/feedwire"
	"github.com/tokenserver/tokenserver/verifier"
)

const (
	testAudience = "https://api.example.test"
	testClientID = "resource-server"
	testSecret   = "s3cret with spaces&symbols"
)

// clock is an injectable clock tests move by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Unix(1_750_000_000, 0)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// signingKey is a real key generated per test.
type signingKey struct {
	kid  string
	alg  jwa.SignatureAlgorithm
	priv crypto.Signer
	// jwkAlg is the alg published in the JWK ("" to omit it).
	jwkAlg string
}

func newKey(t testing.TB, kid, alg string) *signingKey {
	t.Helper()
	var priv crypto.Signer
	var err error
	switch alg {
	case "ES256":
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "ES384":
		priv, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case "RS256", "PS256":
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	case "EdDSA":
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	default:
		t.Fatalf("newKey: unsupported alg %s", alg)
	}
	if err != nil {
		t.Fatal(err)
	}
	a, ok := jwa.LookupSignatureAlgorithm(alg)
	if !ok {
		t.Fatalf("unknown alg %s", alg)
	}
	return &signingKey{kid: kid, alg: a, priv: priv, jwkAlg: alg}
}

// publicJWK is the key's public JWK as JSON.
func (k *signingKey) publicJWK(t testing.TB) json.RawMessage {
	t.Helper()
	pub, err := jwk.Import(k.priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	must(t, pub.Set(jwk.KeyIDKey, k.kid))
	must(t, pub.Set(jwk.KeyUsageKey, "sig"))
	if k.jwkAlg != "" {
		must(t, pub.Set(jwk.AlgorithmKey, k.jwkAlg))
	}
	b, err := json.Marshal(pub)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sign signs claims with header fields hdr (kid and typ at+jwt by default;
// a nil value removes a field).
func (k *signingKey) sign(t testing.TB, claims map[string]any, hdr map[string]any) string {
	t.Helper()
	h := jws.NewHeaders()
	fields := map[string]any{"kid": k.kid, "typ": "at+jwt"}
	for name, v := range hdr {
		fields[name] = v
	}
	for name, v := range fields {
		if v != nil {
			must(t, h.Set(name, v))
		}
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jws.Sign(payload, jws.WithKey(k.alg, k.priv, jws.WithProtectedHeaders(h)))
	if err != nil {
		t.Fatal(err)
	}
	return string(tok)
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// testIssuer is an httptest token server: discovery, JWKS (with max-age
// and ETag), the SSE revocation stream and introspection.
type testIssuer struct {
	srv *httptest.Server
	URL string

	mu          sync.Mutex
	keys        []*signingKey
	jwksStatus  int // non-zero: answer JWKS requests with this status
	maxAge      int
	revocations []store.Revocation
	subscribers map[chan store.Revocation]struct{}
	streamDown  bool          // answer the stream with 503
	kill        chan struct{} // closed to drop every open stream
	pingEvery   time.Duration
	sendPings   bool
	// introspect answers introspection: the JSON body, or a status.
	introspectBody   string
	introspectStatus int

	jwksFetches     atomic.Int32
	jwksNotModified atomic.Int32
	streamConns     atomic.Int32
	introspections  atomic.Int32
}

func newIssuer(t testing.TB, keys ...*signingKey) *testIssuer {
	t.Helper()
	is := &testIssuer{
		keys:           keys,
		maxAge:         300,
		subscribers:    map[chan store.Revocation]struct{}{},
		kill:           make(chan struct{}),
		pingEvery:      50 * time.Millisecond,
		sendPings:      true,
		introspectBody: `{"active":true}`,
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/oauth-authorization-server", is.discovery)
	mux.HandleFunc("GET /jwks", is.jwks)
	mux.HandleFunc("GET /revocations/stream", is.stream)
	mux.HandleFunc("POST /introspect", is.introspect)
	is.srv = httptest.NewServer(mux)
	is.URL = is.srv.URL
	t.Cleanup(is.close)
	return is
}

func (is *testIssuer) close() {
	is.dropStreams()
	is.srv.Close()
}

func (is *testIssuer) discovery(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"issuer":%q,"jwks_uri":%q,"introspection_endpoint":%q,"token_endpoint":%q}`,
		is.URL, is.URL+"/jwks", is.URL+"/introspect", is.URL+"/token")
}

func (is *testIssuer) setKeys(keys ...*signingKey) {
	is.mu.Lock()
	is.keys = keys
	is.mu.Unlock()
}

func (is *testIssuer) jwks(w http.ResponseWriter, r *http.Request) {
	is.jwksFetches.Add(1)
	is.mu.Lock()
	keys, status, maxAge := is.keys, is.jwksStatus, is.maxAge
	is.mu.Unlock()
	if status != 0 {
		http.Error(w, "unavailable", status)
		return
	}
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	etag := `"`
	for _, k := range keys {
		set.Keys = append(set.Keys, k.publicJWK(testingTB{}))
		etag += k.kid + ","
	}
	etag += `"`
	w.Header().Set("Cache-Control", fmt.Sprintf("public, max-age=%d", maxAge))
	w.Header().Set("ETag", etag)
	if r.Header.Get("If-None-Match") == etag {
		is.jwksNotModified.Add(1)
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("Content-Type", "application/jwk-set+json")
	_ = json.NewEncoder(w).Encode(set)
}

// testingTB lets the handler reuse publicJWK; key export cannot fail for
// keys newKey made, and a panic fails the test loudly if it ever does.
type testingTB struct{ testing.TB }

func (testingTB) Helper()                   {}
func (testingTB) Fatal(args ...any)         { panic(fmt.Sprint(args...)) }
func (testingTB) Fatalf(f string, a ...any) { panic(fmt.Sprintf(f, a...)) }

// revoke records r and sends it to every open stream.
func (is *testIssuer) revoke(r store.Revocation) {
	is.mu.Lock()
	is.revocations = append(is.revocations, r)
	subs := make([]chan store.Revocation, 0, len(is.subscribers))
	for ch := range is.subscribers {
		subs = append(subs, ch)
	}
	is.mu.Unlock()
	for _, ch := range subs {
		ch <- r
	}
}

// dropStreams closes every open stream (a server restart).
func (is *testIssuer) dropStreams() {
	is.mu.Lock()
	close(is.kill)
	is.kill = make(chan struct{})
	is.mu.Unlock()
}

func (is *testIssuer) setStreamDown(down bool) {
	is.mu.Lock()
	is.streamDown = down
	is.mu.Unlock()
}

func (is *testIssuer) stream(w http.ResponseWriter, r *http.Request) {
	id, secret, ok := r.BasicAuth()
	if !ok || id != testClientID || secret != urlEncode(testSecret) {
		w.Header().Set("WWW-Authenticate", `Basic realm="tokenserver"`)
		http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
		return
	}
	is.mu.Lock()
	if is.streamDown {
		is.mu.Unlock()
		http.Error(w, "restarting", http.StatusServiceUnavailable)
		return
	}
	ch := make(chan store.Revocation, 16)
	is.subscribers[ch] = struct{}{}
	snapshot, _ := json.Marshal(feedwire.SnapshotOf(append([]store.Revocation{}, is.revocations...)))
	kill, pingEvery, sendPings := is.kill, is.pingEvery, is.sendPings
	is.mu.Unlock()
	defer func() {
		is.mu.Lock()
		delete(is.subscribers, ch)
		is.mu.Unlock()
	}()
	is.streamConns.Add(1)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	fl := w.(http.Flusher)
	fmt.Fprintf(w, "event: snapshot\ndata: %s\n\n", snapshot)
	fl.Flush()
	ping := time.NewTicker(pingEvery)
	defer ping.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-kill:
			return
		case rev := <-ch:
			b, _ := json.Marshal(feedwire.From(rev))
			fmt.Fprintf(w, "event: revoke\ndata: %s\n\n", b)
			fl.Flush()
		case now := <-ping.C:
			if sendPings {
				fmt.Fprintf(w, "event: ping\ndata: {\"time\":%q}\n\n", now.UTC().Format(time.RFC3339))
				fl.Flush()
			}
		}
	}
}

func (is *testIssuer) introspect(w http.ResponseWriter, r *http.Request) {
	is.introspections.Add(1)
	id, secret, ok := r.BasicAuth()
	if !ok || id != testClientID || secret != urlEncode(testSecret) || r.PostFormValue("token") == "" {
		http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
		return
	}
	is.mu.Lock()
	body, status := is.introspectBody, is.introspectStatus
	is.mu.Unlock()
	if status != 0 {
		http.Error(w, "error", status)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprint(w, body)
}

// urlEncode is what RFC 6749 §2.3.1 asks the client to send inside Basic.
func urlEncode(s string) string { return url.QueryEscape(s) }

// claims returns a valid claim set for the issuer at now.
func (is *testIssuer) claims(now time.Time) map[string]any {
	return map[string]any{
		"iss":       is.URL,
		"sub":       "user-1",
		"aud":       testAudience,
		"exp":       now.Add(5 * time.Minute).Unix(),
		"iat":       now.Unix(),
		"jti":       "jti-" + randomID(),
		"client_id": "app",
		"scope":     "read write",
		"sid":       "sid-1",
		"username":  "alice",
	}
}

func randomID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// newVerifier builds a verifier for is with the fake clock.
func newVerifier(t testing.TB, is *testIssuer, clk *clock, rc verifier.RevocationChecker) *verifier.Verifier {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	v, err := verifier.New(ctx, verifier.Config{
		Issuer:     is.URL,
		Audience:   testAudience,
		Now:        clk.Now,
		Revocation: rc,
		Realm:      "api",
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}
