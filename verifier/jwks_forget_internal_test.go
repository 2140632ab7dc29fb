package verifier

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// gatedJWKS serves a JWKS whose content tests switch with setKids. Each
// response is the set as it was when the request arrived, and is held
// until the test releases it when gate is on, so a test can keep a fetch
// in flight.
type gatedJWKS struct {
	t       *testing.T
	jwks    map[string]json.RawMessage // kid -> public JWK
	fetches atomic.Int32

	mu      sync.Mutex
	kids    []string
	gate    bool
	arrived chan struct{} // one send per gated request
	release chan struct{} // one receive per gated request
}

func newGatedJWKS(t *testing.T, kids ...string) (*gatedJWKS, *httptest.Server) {
	g := &gatedJWKS{t: t, jwks: map[string]json.RawMessage{}, arrived: make(chan struct{}, 8), release: make(chan struct{})}
	for _, kid := range []string{"kid-a", "kid-b", "kid-c"} {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		g.jwks[kid] = jwkJSON(t, &k.PublicKey, map[string]string{"kid": kid, "alg": "ES256", "use": "sig"})
	}
	g.kids = kids
	srv := httptest.NewServer(http.HandlerFunc(g.serve))
	t.Cleanup(srv.Close)
	return g, srv
}

func (g *gatedJWKS) setKids(kids ...string) {
	g.mu.Lock()
	g.kids = kids
	g.mu.Unlock()
}

func (g *gatedJWKS) setGate(on bool) {
	g.mu.Lock()
	g.gate = on
	g.mu.Unlock()
}

func (g *gatedJWKS) serve(w http.ResponseWriter, r *http.Request) {
	g.fetches.Add(1)
	g.mu.Lock()
	kids, gate := slices.Clone(g.kids), g.gate
	g.mu.Unlock()
	if gate {
		g.arrived <- struct{}{}
		select {
		case <-g.release:
		case <-r.Context().Done():
			return
		}
	}
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	for _, kid := range kids {
		set.Keys = append(set.Keys, g.jwks[kid])
	}
	w.Header().Set("Cache-Control", "max-age=300")
	w.Header().Set("ETag", fmt.Sprintf("%q", strings.Join(kids, ",")))
	w.Header().Set("Content-Type", "application/jwk-set+json")
	_ = json.NewEncoder(w).Encode(set)
}

// newForgetCache returns a cache on srv with a fixed clock and a one-hour
// MinRefreshInterval, after its first fetch: no refresh happens by itself.
func newForgetCache(t *testing.T, url string) *jwksCache {
	t.Helper()
	now := time.Unix(1_750_000_000, 0)
	c := newJWKSCache(url, Config{
		HTTPClient:         &http.Client{},
		Now:                func() time.Time { return now },
		MinRefreshInterval: time.Hour,
		Logger:             slog.New(slog.DiscardHandler),
	})
	if err := c.refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	return c
}

// cachedKids lists the kids of the cached set, sorted.
func cachedKids(c *jwksCache) []string {
	var kids []string
	for kid := range c.keys.Load().byKID {
		kids = append(kids, kid)
	}
	slices.Sort(kids)
	return kids
}

// awaitDone waits for ch; the bound only detects a hang.
func awaitDone(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(20 * time.Second):
		t.Fatalf("%s: no progress within 20s", what)
	}
}

// A kid revocation drops the key from the cache at once and refetches the
// set, although the unknown-kid throttle would refuse a fetch.
func TestForgetDropsKidAndRefetchesDespiteThrottle(t *testing.T) {
	g, srv := newGatedJWKS(t, "kid-a", "kid-b")
	c := newForgetCache(t, srv.URL)
	ctx := context.Background()
	// Use up the unknown-kid budget: the second miss does not fetch.
	if _, ok := c.key(ctx, "kid-unknown-1"); ok {
		t.Fatal("unknown kid found")
	}
	if _, ok := c.key(ctx, "kid-unknown-2"); ok {
		t.Fatal("unknown kid found")
	}
	if n := g.fetches.Load(); n != 2 {
		t.Fatalf("fetches = %d, want 2 (initial + one unknown kid)", n)
	}

	// The issuer rotates: kid-a is unpublished, kid-c signs.
	g.setKids("kid-b", "kid-c")
	g.setGate(true)
	done := c.forget("kid-a")
	// The drop does not wait for the fetch, which is held at the server.
	awaitDone(t, g.arrived, "refetch request")
	if got := cachedKids(c); !slices.Equal(got, []string{"kid-b"}) {
		t.Errorf("cached kids right after forget = %v, want [kid-b]", got)
	}
	g.release <- struct{}{}
	awaitDone(t, done, "refetch")
	if _, ok := c.key(ctx, "kid-a"); ok {
		t.Error("the revoked kid still resolves")
	}
	if got := cachedKids(c); !slices.Equal(got, []string{"kid-b", "kid-c"}) {
		t.Errorf("cached kids after the refetch = %v, want [kid-b kid-c]", got)
	}
	if n := g.fetches.Load(); n != 3 {
		t.Errorf("fetches = %d, want 3", n)
	}
}

// A fetch in flight when the revocation arrives may bring the set from
// before the rotation; forget waits for it and fetches again rather than
// join it.
func TestForgetDoesNotTrustAFetchAlreadyInFlight(t *testing.T) {
	g, srv := newGatedJWKS(t, "kid-a", "kid-b")
	c := newForgetCache(t, srv.URL)
	g.setGate(true)
	staleFetch := make(chan error, 1)
	go func() { staleFetch <- c.refresh(context.Background()) }()
	awaitDone(t, g.arrived, "stale fetch request") // answers with kid-a, kid-b

	done := c.forget("kid-a")
	g.setKids("kid-b", "kid-c")
	g.release <- struct{}{} // the stale answer lands after the drop
	awaitDone(t, g.arrived, "second fetch request")
	if err := <-staleFetch; err != nil {
		t.Fatal(err)
	}
	g.release <- struct{}{}
	awaitDone(t, done, "refetch")
	if got := cachedKids(c); !slices.Equal(got, []string{"kid-b", "kid-c"}) {
		t.Errorf("cached kids = %v, want [kid-b kid-c]: the set fetched before the revocation won", got)
	}
	if n := g.fetches.Load(); n != 3 {
		t.Errorf("fetches = %d, want 3", n)
	}
}

// Forgetting a kid the cache does not hold changes nothing but still
// refetches (the key that signs now may be new to us).
func TestForgetUnknownKid(t *testing.T) {
	g, srv := newGatedJWKS(t, "kid-b")
	c := newForgetCache(t, srv.URL)
	g.setKids("kid-b", "kid-c")
	awaitDone(t, c.forget("kid-a"), "refetch")
	if got := cachedKids(c); !slices.Equal(got, []string{"kid-b", "kid-c"}) {
		t.Errorf("cached kids = %v, want [kid-b kid-c]", got)
	}
}
