package verifier_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tokenserver/tokenserver/verifier"
)

// waitFor polls cond for up to d; timing is not asserted, only reached.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestUnknownKidRefetchesAtMostOncePerInterval(t *testing.T) {
	clk := newClock()
	old := newKey(t, "old", "ES256")
	is := newIssuer(t, old)
	v := newVerifier(t, is, clk, nil)
	ctx := context.Background()
	if n := is.jwksFetches.Load(); n != 1 {
		t.Fatalf("fetches after New = %d, want 1", n)
	}

	// The issuer publishes a new key and signs with it at once.
	rotated := newKey(t, "new", "ES256")
	is.setKeys(old, rotated)
	if _, err := v.Verify(ctx, rotated.sign(t, is.claims(clk.Now()), nil)); err != nil {
		t.Fatalf("token of the new key: %v", err)
	}
	if n := is.jwksFetches.Load(); n != 2 {
		t.Fatalf("fetches after unknown kid = %d, want 2", n)
	}
	// Known kids never fetch.
	if _, err := v.Verify(ctx, old.sign(t, is.claims(clk.Now()), nil)); err != nil {
		t.Fatal(err)
	}
	// Another unknown kid within MinRefreshInterval does not fetch again.
	bogus := newKey(t, "bogus", "ES256")
	for range 5 {
		if _, err := v.Verify(ctx, bogus.sign(t, is.claims(clk.Now()), nil)); !errors.Is(err, verifier.ErrInvalidToken) {
			t.Fatalf("bogus kid: %v", err)
		}
	}
	if n := is.jwksFetches.Load(); n != 2 {
		t.Fatalf("fetches after unknown kids within the interval = %d, want 2", n)
	}
	// After the interval one more fetch is allowed.
	clk.Advance(verifier.DefaultMinRefreshInterval + time.Second)
	_, _ = v.Verify(ctx, bogus.sign(t, is.claims(clk.Now()), nil))
	if n := is.jwksFetches.Load(); n != 3 {
		t.Fatalf("fetches after the interval = %d, want 3", n)
	}
}

func TestConcurrentUnknownKidsShareOneFetch(t *testing.T) {
	clk := newClock()
	old := newKey(t, "old", "ES256")
	is := newIssuer(t, old)
	v := newVerifier(t, is, clk, nil)
	rotated := newKey(t, "new", "ES256")
	is.setKeys(old, rotated)
	tok := rotated.sign(t, is.claims(clk.Now()), nil)
	errs := make(chan error, 20)
	for range 20 {
		go func() {
			_, err := v.Verify(context.Background(), tok)
			errs <- err
		}()
	}
	for range 20 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if n := is.jwksFetches.Load(); n != 2 {
		t.Fatalf("fetches = %d, want 2 (one at New, one shared)", n)
	}
}

// nextFetch returns the result of v's next completed JWKS fetch (see
// verifier.JWKSFetches).
func nextFetch(t *testing.T, fetched <-chan error) error {
	t.Helper()
	select {
	case err := <-fetched:
		return err
	case <-time.After(30 * time.Second): // a hang detector, not a timing assertion
		t.Fatal("no JWKS fetch completed")
		return nil
	}
}

func TestRotationPickedUpAfterMaxAge(t *testing.T) {
	clk := newClock()
	old := newKey(t, "old", "ES256")
	is := newIssuer(t, old)
	is.maxAge = 60
	v := newVerifier(t, is, clk, nil)
	fetched := verifier.JWKSFetches(v)
	ctx := context.Background()
	oldTok := old.sign(t, is.claims(clk.Now()), nil)
	if _, err := v.Verify(ctx, oldTok); err != nil {
		t.Fatal(err)
	}

	// The old key is removed from the JWKS. Within max-age it is still
	// trusted from the cache (no fetch).
	rotated := newKey(t, "new", "ES256")
	is.setKeys(rotated)
	clk.Advance(30 * time.Second)
	if _, err := v.Verify(ctx, oldTok); err != nil {
		t.Fatalf("within max-age: %v", err)
	}
	if n := verifier.JWKSFetchesStarted(v); n != 1 {
		t.Fatalf("fetches within max-age = %d, want 1", n)
	}
	// Past max-age a Verify starts a background refresh (the cached set
	// still answers it); once it lands the removed key is gone.
	clk.Advance(31 * time.Second)
	_, _ = v.Verify(ctx, oldTok)
	if err := nextFetch(t, fetched); err != nil {
		t.Fatalf("background refresh: %v", err)
	}
	if n := is.jwksFetches.Load(); n != 2 {
		t.Fatalf("fetches after max-age = %d, want 2", n)
	}
	if _, err := v.Verify(ctx, oldTok); !errors.Is(err, verifier.ErrInvalidToken) {
		t.Fatalf("token of the removed key: %v, want ErrInvalidToken", err)
	}
	if _, err := v.Verify(ctx, rotated.sign(t, is.claims(clk.Now()), nil)); err != nil {
		t.Fatalf("new key: %v", err)
	}
}

// TestJWKSRefreshUsesETagAndKeepsLastGoodSet synchronises on the cache's
// own fetches: the issuer's counters move before its answer reaches the
// cache, and a Verify made while a fetch is still in flight joins it
// (single flight) instead of starting the next one.
func TestJWKSRefreshUsesETagAndKeepsLastGoodSet(t *testing.T) {
	clk := newClock()
	k := newKey(t, "k", "ES256")
	is := newIssuer(t, k)
	is.maxAge = 60
	v := newVerifier(t, is, clk, nil)
	fetched := verifier.JWKSFetches(v)
	ctx := context.Background()
	verify := func(when string) {
		t.Helper()
		if _, err := v.Verify(ctx, k.sign(t, is.claims(clk.Now()), nil)); err != nil {
			t.Fatalf("%s: %v", when, err)
		}
	}

	// Past max-age a Verify starts a conditional refresh: 304, set kept.
	clk.Advance(61 * time.Second)
	verify("stale set")
	if err := nextFetch(t, fetched); err != nil {
		t.Fatalf("conditional refresh: %v", err)
	}
	if f, nm := is.jwksFetches.Load(), is.jwksNotModified.Load(); f != 2 || nm != 1 {
		t.Fatalf("fetches %d, 304s %d: want 2 and 1", f, nm)
	}

	// The issuer fails: the refresh fails and the cached set keeps working.
	is.mu.Lock()
	is.jwksStatus = http.StatusInternalServerError
	is.mu.Unlock()
	clk.Advance(61 * time.Second)
	verify("stale set, issuer failing")
	if err := nextFetch(t, fetched); err == nil {
		t.Fatal("refresh from a failing issuer succeeded")
	}
	if n := is.jwksFetches.Load(); n != 3 {
		t.Fatalf("fetches = %d, want 3", n)
	}
	verify("after a failed refresh")

	// A failed refresh is retried only after MinRefreshInterval: a Verify
	// just before it starts no fetch, one at it does.
	clk.Advance(verifier.DefaultMinRefreshInterval - time.Second)
	verify("within the retry interval")
	if n := verifier.JWKSFetchesStarted(v); n != 3 {
		t.Fatalf("fetches started within the retry interval = %d, want 3", n)
	}
	clk.Advance(time.Second)
	verify("at the retry time")
	if err := nextFetch(t, fetched); err == nil {
		t.Fatal("retry from a failing issuer succeeded")
	}
	if n := is.jwksFetches.Load(); n != 4 {
		t.Fatalf("fetches after the retry interval = %d, want 4", n)
	}
}

func TestNewFailures(t *testing.T) {
	k := newKey(t, "k", "ES256")
	is := newIssuer(t, k)
	lying := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"issuer":"https://evil.example","jwks_uri":"` + is.URL + `/jwks"}`))
	}))
	t.Cleanup(lying.Close)
	noKeys := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/jwks") {
			w.Write([]byte(`{"keys":[{"kty":"oct","kid":"h","k":"c2VjcmV0","alg":"HS256"}]}`))
			return
		}
		w.Write([]byte(`{"issuer":"http://` + r.Host + `","jwks_uri":"http://` + r.Host + `/jwks"}`))
	}))
	t.Cleanup(noKeys.Close)
	notFound := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(notFound.Close)

	tests := []struct {
		name string
		cfg  verifier.Config
		want string
	}{
		{"no audience", verifier.Config{Issuer: is.URL}, "Audience is required"},
		{"no issuer", verifier.Config{Audience: testAudience}, "Issuer is required"},
		{"http issuer off loopback", verifier.Config{Issuer: "http://auth.example.com", Audience: testAudience}, "must use https"},
		{"issuer mismatch (RFC 8414 §3.3)", verifier.Config{Issuer: lying.URL, Audience: testAudience}, "differs from configured issuer"},
		{"no metadata", verifier.Config{Issuer: notFound.URL, Audience: testAudience}, "not found"},
		{"only symmetric keys", verifier.Config{Issuer: noKeys.URL, Audience: testAudience}, "no usable signature key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_, err := verifier.New(ctx, tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: %v, want error containing %q", err, tc.want)
			}
		})
	}
}

func TestDiscoveryWithIssuerPath(t *testing.T) {
	k := newKey(t, "k", "ES256")
	is := newIssuer(t, k)
	var base string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// RFC 8414 §3.1: the well-known segment goes before the path.
		if r.URL.Path != "/.well-known/oauth-authorization-server/tenant" {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte(`{"issuer":"` + base + `/tenant","jwks_uri":"` + is.URL + `/jwks"}`))
	}))
	t.Cleanup(srv.Close)
	base = srv.URL
	md, err := verifier.Discover(context.Background(), nil, base+"/tenant", false)
	if err != nil {
		t.Fatal(err)
	}
	if md.JWKSURI != is.URL+"/jwks" {
		t.Fatalf("jwks_uri = %q", md.JWKSURI)
	}
}
