package verifier

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// fetchTimeout bounds one JWKS fetch even if the HTTP client has no timeout.
const fetchTimeout = 30 * time.Second

// jwksCache holds the issuer's current key set. Readers load an immutable
// snapshot without locking. Fetches are single-flight: at most one runs at a
// time and concurrent callers wait for it. A failed fetch keeps the last
// good set and is retried after minRefresh.
type jwksCache struct {
	uri        string
	client     *http.Client
	now        func() time.Time
	minRefresh time.Duration
	logger     *slog.Logger

	keys atomic.Pointer[keySet]
	// staleAt (unix nanoseconds) is when the set should be refreshed: the
	// response's max-age, or the retry time after a failure.
	staleAt atomic.Int64

	mu       sync.Mutex
	inflight *fetchCall
	etag     string
	// lastMissFetch is when a token with an unknown kid last caused a fetch.
	lastMissFetch time.Time
	// started counts fetches, and fetched, when set, receives the result
	// of every fetch once the cache has settled (set and refresh time
	// installed, in-flight call cleared): hooks for tests (export_test.go),
	// which synchronise on them rather than on timing.
	started int
	fetched chan<- error
}

type fetchCall struct {
	done chan struct{}
	err  error
}

func newJWKSCache(uri string, cfg Config) *jwksCache {
	return &jwksCache{
		uri:        uri,
		client:     cfg.HTTPClient,
		now:        cfg.Now,
		minRefresh: cfg.MinRefreshInterval,
		logger:     cfg.Logger,
	}
}

// key returns the key for kid. A stale set triggers a background refresh
// (the current set keeps serving meanwhile). An unknown kid triggers a
// fetch, waited for, at most once per minRefresh: tokens carrying random
// kids cannot make the verifier hammer the issuer.
func (c *jwksCache) key(ctx context.Context, kid string) (verifyKey, bool) {
	now := c.now()
	if now.UnixNano() >= c.staleAt.Load() {
		c.mu.Lock()
		if c.inflight == nil {
			c.startLocked()
		}
		c.mu.Unlock()
	}
	if ks := c.keys.Load(); ks != nil {
		if k, ok := ks.byKID[kid]; ok {
			return k, true
		}
	}
	c.mu.Lock()
	call := c.inflight
	if call == nil {
		if !c.lastMissFetch.IsZero() && now.Sub(c.lastMissFetch) < c.minRefresh {
			c.mu.Unlock()
			return verifyKey{}, false
		}
		c.lastMissFetch = now
		call = c.startLocked()
	}
	c.mu.Unlock()
	if c.wait(ctx, call) != nil {
		return verifyKey{}, false
	}
	k, ok := c.keys.Load().byKID[kid]
	return k, ok
}

// refresh fetches the set now (joining a fetch in flight) and waits.
func (c *jwksCache) refresh(ctx context.Context) error {
	c.mu.Lock()
	call := c.inflight
	if call == nil {
		call = c.startLocked()
	}
	c.mu.Unlock()
	return c.wait(ctx, call)
}

func (c *jwksCache) wait(ctx context.Context, call *fetchCall) error {
	select {
	case <-call.done:
		return call.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// startLocked starts a fetch detached from any caller's context, so one
// caller giving up does not fail the others. c.mu must be held.
func (c *jwksCache) startLocked() *fetchCall {
	call := &fetchCall{done: make(chan struct{})}
	c.inflight = call
	c.started++
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), fetchTimeout)
		defer cancel()
		err := c.fetch(ctx)
		if err != nil {
			c.staleAt.Store(c.now().Add(c.minRefresh).UnixNano())
			c.logger.Warn("verifier: JWKS refresh failed; keeping the last good key set", "uri", c.uri, "error", err)
		}
		c.mu.Lock()
		c.inflight = nil
		fetched := c.fetched
		c.mu.Unlock()
		call.err = err
		close(call.done)
		if fetched != nil {
			fetched <- err
		}
	}()
	return call
}

// fetch GETs the JWKS with If-None-Match and installs the result.
func (c *jwksCache) fetch(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.uri, nil)
	if err != nil {
		return fmt.Errorf("verifier: jwks: %w", err)
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	c.mu.Lock()
	etag := c.etag
	c.mu.Unlock()
	if etag != "" && c.keys.Load() != nil {
		req.Header.Set("If-None-Match", etag)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return fmt.Errorf("verifier: jwks: %w", err)
	}
	defer resp.Body.Close()
	maxAge := c.maxAge(resp.Header)
	switch resp.StatusCode {
	case http.StatusNotModified:
		if c.keys.Load() == nil {
			return fmt.Errorf("verifier: jwks: GET %s: 304 without a cached set", c.uri)
		}
	case http.StatusOK:
		body, err := readLimited(resp.Body, maxDocumentSize)
		if err != nil {
			return fmt.Errorf("verifier: jwks: GET %s: %w", c.uri, err)
		}
		ks, skipped, err := parseJWKS(body)
		if err != nil {
			return fmt.Errorf("verifier: jwks: GET %s: %w", c.uri, err)
		}
		for _, s := range skipped {
			c.logger.Debug("verifier: JWKS entry skipped", "error", s)
		}
		c.keys.Store(ks)
		c.mu.Lock()
		c.etag = resp.Header.Get("ETag")
		c.mu.Unlock()
	default:
		return fmt.Errorf("verifier: jwks: GET %s: status %d", c.uri, resp.StatusCode)
	}
	c.staleAt.Store(c.now().Add(maxAge).UnixNano())
	return nil
}

// maxAge reads Cache-Control max-age (less Age), clamped to
// [minRefresh, 24h]; no-store/no-cache mean refresh as soon as allowed.
func (c *jwksCache) maxAge(h http.Header) time.Duration {
	d := DefaultJWKSMaxAge
	for _, cc := range h.Values("Cache-Control") {
		for directive := range strings.SplitSeq(cc, ",") {
			directive = strings.ToLower(strings.TrimSpace(directive))
			switch {
			case directive == "no-store" || directive == "no-cache":
				d = 0
			case strings.HasPrefix(directive, "max-age="):
				if n, err := strconv.ParseInt(strings.TrimPrefix(directive, "max-age="), 10, 64); err == nil && n >= 0 {
					d = time.Duration(min(n, int64(maxJWKSMaxAge/time.Second))) * time.Second
				}
			}
		}
	}
	if age, err := strconv.ParseInt(h.Get("Age"), 10, 64); err == nil && age > 0 {
		d -= time.Duration(min(age, int64(maxJWKSMaxAge/time.Second))) * time.Second
	}
	return min(max(d, c.minRefresh), maxJWKSMaxAge)
}
