package verifier

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Introspection defaults.
const (
	DefaultIntrospectionCacheTTL  = 5 * time.Second
	DefaultIntrospectionCacheSize = 10000
)

// IntrospectionConfig configures an Introspection checker.
type IntrospectionConfig struct {
	// Endpoint is the introspection endpoint (Metadata.IntrospectionEndpoint).
	Endpoint string
	// ClientID and ClientSecret authenticate this resource server with HTTP
	// Basic (RFC 7662 §2.1 requires the caller be authorized).
	ClientID, ClientSecret string
	// HTTPClient nil means DefaultHTTPClient.
	HTTPClient *http.Client
	// CacheTTL is how long an "active" answer is reused per jti. Zero means
	// DefaultIntrospectionCacheTTL; negative disables caching of active
	// answers. An inactive answer is kept until the token expires: a
	// revoked token never becomes valid again.
	CacheTTL time.Duration
	// CacheSize bounds the number of cached answers. Zero means
	// DefaultIntrospectionCacheSize.
	CacheSize int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Introspection is a RevocationChecker asking the token server's RFC 7662
// endpoint, caching answers per jti. Every cache miss costs a round trip;
// prefer Push where the token server's stream or Redis is reachable.
type Introspection struct {
	endpoint string
	id       string
	secret   string
	client   *http.Client
	ttl      time.Duration
	size     int
	now      func() time.Time

	mu    sync.Mutex
	cache map[string]introspected
}

type introspected struct {
	active bool
	until  time.Time
}

// NewIntrospection returns an Introspection checker.
func NewIntrospection(cfg IntrospectionConfig) (*Introspection, error) {
	if cfg.Endpoint == "" {
		return nil, errors.New("verifier: IntrospectionConfig.Endpoint is required")
	}
	if cfg.ClientID == "" {
		return nil, errors.New("verifier: IntrospectionConfig.ClientID is required")
	}
	in := &Introspection{
		endpoint: cfg.Endpoint,
		id:       cfg.ClientID,
		secret:   cfg.ClientSecret,
		client:   cfg.HTTPClient,
		ttl:      cfg.CacheTTL,
		size:     cfg.CacheSize,
		now:      cfg.Now,
		cache:    map[string]introspected{},
	}
	if in.client == nil {
		in.client = DefaultHTTPClient()
	}
	if in.ttl == 0 {
		in.ttl = DefaultIntrospectionCacheTTL
	}
	if in.size <= 0 {
		in.size = DefaultIntrospectionCacheSize
	}
	if in.now == nil {
		in.now = time.Now
	}
	return in, nil
}

// Revoked implements RevocationChecker: active:false means revoked (the
// token's signature and lifetime were already checked). Errors wrap
// ErrRevocationUnavailable.
// Introspection needs the token itself, which Verifier passes through
// revokedToken; called directly, Revoked answers only from the cache.
func (in *Introspection) Revoked(ctx context.Context, c *Claims) (bool, error) {
	return in.revokedToken(ctx, c, "")
}

// revokedToken implements tokenChecker.
func (in *Introspection) revokedToken(ctx context.Context, c *Claims, token string) (bool, error) {
	now := in.now()
	in.mu.Lock()
	e, ok := in.cache[c.JTI]
	in.mu.Unlock()
	if ok && now.Before(e.until) {
		return !e.active, nil
	}
	if token == "" {
		return false, fmt.Errorf("%w: introspection needs the token (call through Verifier.Verify)", ErrRevocationUnavailable)
	}
	active, err := in.introspect(ctx, token)
	if err != nil {
		return false, fmt.Errorf("%w: %w", ErrRevocationUnavailable, err)
	}
	until := now.Add(in.ttl)
	if !active {
		until = c.ExpiresAt
	}
	if until.After(now) {
		in.store(c.JTI, introspected{active: active, until: until}, now)
	}
	return !active, nil
}

// store adds an answer, evicting expired answers and then arbitrary ones
// when the cache is full.
func (in *Introspection) store(jti string, e introspected, now time.Time) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if _, ok := in.cache[jti]; !ok && len(in.cache) >= in.size {
		for k, old := range in.cache {
			if !now.Before(old.until) {
				delete(in.cache, k)
			}
		}
		for k := range in.cache {
			if len(in.cache) < in.size {
				break
			}
			delete(in.cache, k)
		}
	}
	in.cache[jti] = e
}

// introspect POSTs the token (RFC 7662 §2.1) and returns "active".
func (in *Introspection) introspect(ctx context.Context, token string) (bool, error) {
	form := url.Values{"token": {token}, "token_type_hint": {"access_token"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, in.endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return false, fmt.Errorf("verifier: introspect: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	// RFC 6749 §2.3.1: id and secret are form-urlencoded before Basic.
	req.SetBasicAuth(url.QueryEscape(in.id), url.QueryEscape(in.secret))
	resp, err := in.client.Do(req)
	if err != nil {
		return false, fmt.Errorf("verifier: introspect: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Errorf("verifier: introspect: POST %s: status %d", in.endpoint, resp.StatusCode)
	}
	body, err := readLimited(resp.Body, maxDocumentSize)
	if err != nil {
		return false, fmt.Errorf("verifier: introspect: %w", err)
	}
	// RFC 7662 §2.2: "active" is REQUIRED; a response without it is not an
	// answer we can act on.
	var r struct {
		Active *bool `json:"active"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return false, fmt.Errorf("verifier: introspect: decode: %w", err)
	}
	if r.Active == nil {
		return false, errors.New("verifier: introspect: response has no active member")
	}
	return *r.Active, nil
}
