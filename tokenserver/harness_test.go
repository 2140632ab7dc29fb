package tokenserver

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokenserver/tokenserver/store"
	"github.com/tokenserver/tokenserver/store/memory"
	"github.com/tokenserver/tokenserver/tokenserver/password"
)

// Fixtures: every harness starts with these clients and users.
const (
	testIssuer = "https://auth.example.com"

	webID     = "web" // confidential, password + refresh_token
	webSecret = "web-secret-0123456789abcdefghijklmnopqrstuvwxyz"

	mobileID     = "mobile" // confidential, password + refresh_token
	mobileSecret = "mobile-secret-0123456789abcdefghijklmnopqrstuvwxyz"

	cliID = "cli" // public, password + refresh_token

	batchID     = "batch" // confidential, password only
	batchSecret = "batch-secret-0123456789abcdefghijklmnopqrstuvwxyz"

	refresherID     = "refresher" // confidential, refresh_token only
	refresherSecret = "refresher-secret-0123456789abcdefghijklmnopqrstuvwxyz"

	// oddID needs form-encoding inside Basic credentials (RFC 6749 §2.3.1).
	oddID     = "svc:one two"
	oddSecret = "p+ss%word:with/odd&chars=0123456789abcdefghij"

	aliceID       = "00000000-0000-4000-8000-00000000a11c"
	aliceName     = "Alice"
	alicePassword = "correct horse battery staple"

	bobID       = "00000000-0000-4000-8000-0000000000b0" // disabled
	bobName     = "bob"
	bobPassword = "bob-password-123"
)

// testClock is a settable clock shared by the server and the store.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// syncBuffer collects log output from concurrent handlers.
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

type harness struct {
	t      testing.TB
	clock  *testClock
	mem    *memory.Store
	keys   Keys
	hasher *password.Hasher
	srv    *Server
	logs   *syncBuffer
	// wrap, if set, wraps the server's handler (tracing tests put the
	// server-span middleware around it, as cmd/tokenserver does).
	wrap func(http.Handler) http.Handler
}

// testHasherConfig is a real argon2id hasher at parameters small enough
// for tests.
func testHasherConfig() password.Config {
	return password.Config{
		Params:    password.Params{Memory: 64, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16},
		AllowWeak: true,
	}
}

// newHarness builds a server on a fresh memory store with the fixtures.
// Options edit the Config before New (e.g. to wrap a store in a stub).
func newHarness(t testing.TB, opts ...func(*harness, *Config)) *harness {
	t.Helper()
	clock := &testClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	mem := memory.New(clock.Now)
	hasher, err := password.NewHasher(testHasherConfig())
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, clock: clock, mem: mem, hasher: hasher, logs: &syncBuffer{}}
	h.keys = newTestKeys(t, clock, mem)
	h.seed()

	cfg := Config{
		Issuer:      testIssuer,
		Users:       mem,
		Clients:     mem,
		Refresh:     mem,
		Revocations: mem,
		Feed:        mem,
		Throttle:    mem,
		Keys:        h.keys,
		Hasher:      hasher,
		Now:         clock.Now,
		Logger:      slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Scopes:      []string{"read", "write", "admin"},
	}
	for _, o := range opts {
		o(h, &cfg)
	}
	h.srv, err = New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func (h *harness) seed() {
	h.t.Helper()
	ctx := context.Background()
	now := h.clock.Now()
	both := []string{grantPassword, grantRefreshToken}
	clients := []store.Client{
		{ID: webID, SecretHash: HashClientSecret(webSecret), Grants: both, Scopes: []string{"read", "write", "admin"}},
		{ID: mobileID, SecretHash: HashClientSecret(mobileSecret), Grants: both, Scopes: []string{"read", "write"}},
		{ID: cliID, Grants: both, Scopes: []string{"read"}},
		{ID: batchID, SecretHash: HashClientSecret(batchSecret), Grants: []string{grantPassword}, Scopes: []string{"read"}},
		{ID: refresherID, SecretHash: HashClientSecret(refresherSecret), Grants: []string{grantRefreshToken}, Scopes: []string{"read"}},
		{ID: oddID, SecretHash: HashClientSecret(oddSecret), Grants: both, Scopes: []string{"read"}},
	}
	for _, c := range clients {
		c.CreatedAt = now
		if err := h.mem.CreateClient(ctx, c); err != nil {
			h.t.Fatal(err)
		}
	}
	h.addUser(aliceID, aliceName, alicePassword, false)
	h.addUser(bobID, bobName, bobPassword, true)
}

func (h *harness) addUser(id, name, pw string, disabled bool) {
	h.t.Helper()
	hash, err := h.hasher.Hash(context.Background(), pw)
	if err != nil {
		h.t.Fatal(err)
	}
	now := h.clock.Now()
	u := store.User{ID: id, Username: name, PasswordHash: hash, Disabled: disabled,
		CreatedAt: now, UpdatedAt: now, PasswordChangedAt: now}
	if err := h.mem.CreateUser(context.Background(), u); err != nil {
		h.t.Fatal(err)
	}
}

// ---------------------------------------------------------------- requests

// formBody encodes name/value pairs in order; a name may repeat.
func formBody(kv ...string) string {
	var b strings.Builder
	for i := 0; i+1 < len(kv); i += 2 {
		if b.Len() > 0 {
			b.WriteByte('&')
		}
		b.WriteString(url.QueryEscape(kv[i]) + "=" + url.QueryEscape(kv[i+1]))
	}
	return b.String()
}

type reqOption func(*http.Request)

// withBasic sets client_secret_basic credentials, form-encoded first as
// RFC 6749 §2.3.1 requires.
func withBasic(id, secret string) reqOption {
	return func(r *http.Request) {
		raw := url.QueryEscape(id) + ":" + url.QueryEscape(secret)
		r.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(raw)))
	}
}

func withHeader(name, value string) reqOption {
	return func(r *http.Request) { r.Header.Set(name, value) }
}

func withRemoteAddr(addr string) reqOption {
	return func(r *http.Request) { r.RemoteAddr = addr }
}

// do sends a request straight to the handler.
func (h *harness) do(method, target, body string, opts ...reqOption) *httptest.ResponseRecorder {
	h.t.Helper()
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	if body != "" || method == http.MethodPost {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for _, o := range opts {
		o(r)
	}
	rec := httptest.NewRecorder()
	handler := h.srv.Handler()
	if h.wrap != nil {
		handler = h.wrap(handler)
	}
	handler.ServeHTTP(rec, r)
	return rec
}

// token POSTs a form to /token.
func (h *harness) token(body string, opts ...reqOption) *httptest.ResponseRecorder {
	h.t.Helper()
	return h.do(http.MethodPost, "/token", body, opts...)
}

// tokenJSON is a decoded RFC 6749 §5.1 response.
type tokenJSON struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
	Scope        string `json:"scope"`
}

// login runs the password grant for web and returns the tokens.
func (h *harness) login(scope string) tokenJSON {
	h.t.Helper()
	kv := []string{"grant_type", "password", "username", aliceName, "password", alicePassword}
	if scope != "" {
		kv = append(kv, "scope", scope)
	}
	return h.mustToken(h.token(formBody(kv...), withBasic(webID, webSecret)))
}

// refresh runs the refresh grant for web.
func (h *harness) refresh(rt string, kv ...string) *httptest.ResponseRecorder {
	h.t.Helper()
	return h.token(formBody(append([]string{"grant_type", "refresh_token", "refresh_token", rt}, kv...)...),
		withBasic(webID, webSecret))
}

func (h *harness) mustToken(rec *httptest.ResponseRecorder) tokenJSON {
	h.t.Helper()
	assertTokenResponse(h.t, rec)
	var tj tokenJSON
	if err := json.Unmarshal(rec.Body.Bytes(), &tj); err != nil {
		h.t.Fatalf("decode token response: %v", err)
	}
	return tj
}

// claims verifies an access token with the server's Keys and decodes it.
func (h *harness) claims(token string) map[string]any {
	h.t.Helper()
	payload, err := h.keys.Verify(token)
	if err != nil {
		h.t.Fatalf("verify access token: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(payload, &m); err != nil {
		h.t.Fatalf("decode claims: %v", err)
	}
	return m
}

// ---------------------------------------------------------------- assertions

// assertTokenResponse checks a §5.1 success and its MUST headers.
func assertTokenResponse(t testing.TB, rec *httptest.ResponseRecorder) {
	t.Helper()
	if rec.Code != http.StatusOK {
		t.Fatalf("status = %d, want 200; body %s", rec.Code, rec.Body)
	}
	assertHeader(t, rec, "Cache-Control", "no-store")
	assertHeader(t, rec, "Pragma", "no-cache")
	assertHeader(t, rec, "Content-Type", "application/json")
}

// assertOAuthError checks an RFC 6749 §5.2 error: status, code, and every
// header an error response must or must not carry.
func assertOAuthError(t testing.TB, rec *httptest.ResponseRecorder, wantStatus int, wantCode string) {
	t.Helper()
	if rec.Code != wantStatus {
		t.Errorf("status = %d, want %d; body %s", rec.Code, wantStatus, rec.Body)
	}
	var body struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("error body is not JSON: %v: %q", err, rec.Body)
	}
	if body.Error != wantCode {
		t.Errorf("error = %q, want %q (description %q)", body.Error, wantCode, body.Description)
	}
	for i := 0; i < len(body.Description); i++ {
		if !descriptionChar(body.Description[i]) {
			t.Errorf("error_description has a character RFC 6749 §5.2 forbids: %q", body.Description)
			break
		}
	}
	assertHeader(t, rec, "Content-Type", "application/json")
	assertHeader(t, rec, "Cache-Control", "no-store")
	assertHeader(t, rec, "Pragma", "no-cache")
	if wantStatus == http.StatusUnauthorized {
		assertHeader(t, rec, "WWW-Authenticate", `Basic realm="tokenserver"`)
	} else {
		assertHeader(t, rec, "WWW-Authenticate", "")
	}
	if wantStatus == http.StatusMethodNotAllowed {
		assertHeader(t, rec, "Allow", http.MethodPost)
	}
	retry := rec.Header().Get("Retry-After")
	switch wantStatus {
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		if n, err := strconv.Atoi(retry); err != nil || n < 1 {
			t.Errorf("Retry-After = %q, want a positive number of seconds", retry)
		}
	default:
		if retry != "" {
			t.Errorf("Retry-After = %q on a %d, want none", retry, wantStatus)
		}
	}
}

func assertHeader(t testing.TB, rec *httptest.ResponseRecorder, name, want string) {
	t.Helper()
	if got := rec.Header().Get(name); got != want {
		t.Errorf("%s = %q, want %q", name, got, want)
	}
}

func readAll(t testing.TB, r io.Reader) string {
	t.Helper()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
