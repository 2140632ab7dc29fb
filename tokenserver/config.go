package tokenserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/tokenserver/tokenserver/audit"
	"go.opentelemetry.io/otel/trace"

	"github.com/tokenserver/tokenserver/dpop"
	"github.com/tokenserver/tokenserver/sessions"
	"github.com/tokenserver/tokenserver/store"
	"github.com/tokenserver/tokenserver/tokenserver/password"
)

// Keys signs and verifies access tokens and publishes the JWKS. *keys.Manager
// implements it.
type Keys interface {
	// Sign returns a compact JWS over payload with the current key.
	Sign(payload []byte) (string, error)
	// Verify checks a token against the published keys and returns its payload.
	Verify(token string) ([]byte, error)
	// JWKS returns the published key set and its entity tag.
	JWKS() (body []byte, etag string)
	// MaxAge is how long clients may cache the JWKS.
	MaxAge() time.Duration
}

// ThrottleLimits are the failed-login counters checked before any password
// is hashed. Zero fields take the defaults.
type ThrottleLimits struct {
	// UserFailures is allowed per (lowercased username, client IP) per
	// Window; default 5. It stops guessing one account.
	UserFailures int
	// IPFailures is allowed per client IP (IPv6: per /64) per Window;
	// default 100. It stops spraying many accounts.
	IPFailures int
	// Window; default 5 minutes.
	Window time.Duration
}

// Config configures a Server. Zero durations take the documented defaults.
type Config struct {
	// Issuer is the `iss` of every token and the base of every advertised
	// endpoint: an absolute https URL without query or fragment (RFC 8414
	// §2); http is accepted only for loopback hosts.
	Issuer string
	// Audience is the default `aud`; default: [Issuer].
	Audience []string

	AccessTokenTTL     time.Duration // default 15m
	RefreshIdleTTL     time.Duration // default 14 days
	RefreshAbsoluteTTL time.Duration // default 90 days
	// RefreshReuseLeeway: see store.RotateRequest.ReuseLeeway. Zero (the
	// default) disables it.
	RefreshReuseLeeway time.Duration

	Users          store.UserStore
	Clients        store.ClientStore
	Refresh        store.RefreshTokenStore
	Revocations    store.RevocationStore
	Feed           store.RevocationFeed
	Throttle       store.LoginThrottle
	ThrottleLimits ThrottleLimits

	Keys   Keys
	Hasher *password.Hasher

	// Sessions revokes tokens and sessions (/revoke, refresh-token reuse).
	// Default: a sessions.Service over Users, Refresh, Revocations and Feed
	// with AccessTokenTTL; production wiring passes one that also knows the
	// stored token lifetimes.
	Sessions *sessions.Service

	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger; default discards.
	Logger *slog.Logger
	// Ready are the checks /readyz runs, in the order its body lists them.
	Ready []ReadyCheck
	// OnReadiness, if set, is told the outcome of every check each time
	// /readyz runs them, as each one is known (ok false: failed, degraded
	// or timed out): the seam for a dependency-up gauge. It runs on the
	// request's goroutine and must be cheap.
	OnReadiness func(name string, ok bool)

	// OnRequest, if set, receives one RequestRecord per request when its
	// handler returns (request metrics, the access log). It runs on the
	// request's goroutine and must be cheap.
	OnRequest func(ctx context.Context, rec RequestRecord)
	// Audit receives the audit events of logins, refreshes, reuse,
	// revocations and client authentication failures. Nil means none.
	Audit audit.Sink
	// AuditReasons makes login.failed tell an unknown user from a wrong
	// password (and a disabled user) and name the user where known;
	// otherwise every bad-credentials failure is invalid_credentials with
	// no subject, so the audit log cannot be used to enumerate accounts.
	AuditReasons bool
	// TracerProvider, if set, gets a span per grant ("grant password",
	// attributes oauth.grant_type, oauth.client_id and oauth.error) and per
	// access-token signature, under the span in the request's context (the
	// HTTP server span is the caller's: wrap Handler with a server-span
	// middleware). Nil: no tracing, no cost.
	TracerProvider trace.TracerProvider
	// TrustedProxies are CIDRs (or single addresses) of reverse proxies.
	// When the peer address is in one of them, the client IP is taken from
	// X-Forwarded-For (the right-most address not itself trusted). Empty:
	// the peer address only.
	TrustedProxies []string
	// Scopes advertised in the metadata's scopes_supported.
	Scopes []string

	// PingInterval is how often GET /revocations/stream sends a ping event
	// so that subscribers notice a dead connection; default 5s (verifier.SSE
	// gives up after three silent intervals).
	PingInterval time.Duration
	// MaxStreams bounds concurrent revocation streams; over it a stream
	// request gets 503 with Retry-After. Default 1000.
	MaxStreams int
	// ClientCacheTTL is how long a client registration read from Clients
	// is reused for client authentication (secrets are still checked on
	// every request); a deleted client stops authenticating within it.
	// Default 5s; negative disables the cache.
	ClientCacheTTL time.Duration

	// DPoP (RFC 9449) at the token endpoint; the zero value accepts proofs
	// with an in-process replay cache and no nonces.
	DPoP DPoPConfig
}

// Defaults of the zero Config fields, exported so that the command line
// shows and uses the same values instead of a second copy.
const (
	DefaultAccessTokenTTL     = 15 * time.Minute
	DefaultRefreshIdleTTL     = 14 * 24 * time.Hour
	DefaultRefreshAbsoluteTTL = 90 * 24 * time.Hour
	DefaultThrottleWindow     = 5 * time.Minute
	DefaultUserFailures       = 5
	DefaultIPFailures         = 100
	DefaultPingInterval       = 5 * time.Second
	DefaultMaxStreams         = 1000
	DefaultClientCacheTTL     = 5 * time.Second
)

// The package's own short names for the defaults (used throughout its tests).
const (
	defaultAccessTokenTTL     = DefaultAccessTokenTTL
	defaultRefreshIdleTTL     = DefaultRefreshIdleTTL
	defaultRefreshAbsoluteTTL = DefaultRefreshAbsoluteTTL
	defaultThrottleWindow     = DefaultThrottleWindow
	defaultUserFailures       = DefaultUserFailures
	defaultIPFailures         = DefaultIPFailures
	defaultPingInterval       = DefaultPingInterval
	defaultMaxStreams         = DefaultMaxStreams
	defaultClientCacheTTL     = DefaultClientCacheTTL
)

// withDefaults returns c with every zero setting replaced by its default.
func (c Config) withDefaults() Config {
	if c.AccessTokenTTL == 0 {
		c.AccessTokenTTL = defaultAccessTokenTTL
	}
	if c.RefreshIdleTTL == 0 {
		c.RefreshIdleTTL = defaultRefreshIdleTTL
	}
	if c.RefreshAbsoluteTTL == 0 {
		c.RefreshAbsoluteTTL = defaultRefreshAbsoluteTTL
	}
	if len(c.Audience) == 0 && c.Issuer != "" {
		c.Audience = []string{c.Issuer}
	}
	if c.ThrottleLimits.UserFailures == 0 {
		c.ThrottleLimits.UserFailures = defaultUserFailures
	}
	if c.ThrottleLimits.IPFailures == 0 {
		c.ThrottleLimits.IPFailures = defaultIPFailures
	}
	if c.ThrottleLimits.Window == 0 {
		c.ThrottleLimits.Window = defaultThrottleWindow
	}
	if c.PingInterval == 0 {
		c.PingInterval = defaultPingInterval
	}
	if c.MaxStreams == 0 {
		c.MaxStreams = defaultMaxStreams
	}
	if c.ClientCacheTTL == 0 {
		c.ClientCacheTTL = defaultClientCacheTTL
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.DPoP.Replay == nil {
		c.DPoP.Replay = dpop.NewMemoryReplayCache(0, c.Now)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// validate reports every problem of c, each naming its setting.
func (c Config) validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf(format, args...))
	}
	if err := ValidateIssuer(c.Issuer); err != nil {
		bad("Issuer: %w", err)
	}
	for _, a := range c.Audience {
		if a == "" {
			bad("Audience: empty entry")
		}
	}
	for name, d := range map[string]time.Duration{
		"AccessTokenTTL": c.AccessTokenTTL, "RefreshIdleTTL": c.RefreshIdleTTL,
		"RefreshAbsoluteTTL": c.RefreshAbsoluteTTL, "PingInterval": c.PingInterval,
	} {
		if d <= 0 {
			bad("%s: must be positive, got %v", name, d)
		}
	}
	if c.DPoP.MaxAge < 0 {
		bad("DPoP.MaxAge: must not be negative, got %v", c.DPoP.MaxAge)
	}
	if c.RefreshReuseLeeway < 0 {
		bad("RefreshReuseLeeway: must not be negative, got %v", c.RefreshReuseLeeway)
	}
	for name, v := range map[string]int64{
		"ThrottleLimits.UserFailures": int64(c.ThrottleLimits.UserFailures),
		"ThrottleLimits.IPFailures":   int64(c.ThrottleLimits.IPFailures),
		"ThrottleLimits.Window":       int64(c.ThrottleLimits.Window),
		"MaxStreams":                  int64(c.MaxStreams),
	} {
		if v <= 0 {
			bad("%s: must be positive", name)
		}
	}
	for name, missing := range map[string]bool{
		"Users": c.Users == nil, "Clients": c.Clients == nil, "Refresh": c.Refresh == nil,
		"Revocations": c.Revocations == nil, "Feed": c.Feed == nil, "Throttle": c.Throttle == nil,
		"Keys": c.Keys == nil, "Hasher": c.Hasher == nil,
	} {
		if missing {
			bad("%s: required", name)
		}
	}
	names := map[string]bool{}
	for i, rc := range c.Ready {
		switch {
		case rc.Name == "" || strings.ContainsAny(rc.Name, "\r\n:"):
			bad("Ready[%d]: Name must be non-empty, one line, without ':'", i)
		case names[rc.Name]:
			bad("Ready[%d]: duplicate Name %q", i, rc.Name)
		case rc.Check == nil:
			bad("Ready[%d] (%s): Check required", i, rc.Name)
		}
		names[rc.Name] = true
	}
	if _, err := ParseTrustedProxies(c.TrustedProxies); err != nil {
		bad("%w", err)
	}
	for i, sc := range c.Scopes {
		if !ValidScopeToken(sc) {
			bad("Scopes[%d]: %q is not a valid scope token (RFC 6749 §3.3)", i, sc)
		}
	}
	if len(errs) == 0 {
		return nil
	}
	// Maps iterate in random order; sort for a stable message.
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Error()
	}
	slices.Sort(msgs)
	return fmt.Errorf("tokenserver: config: %s", strings.Join(msgs, "; "))
}

// ValidateIssuer enforces RFC 8414 §2: an https URL with no query or
// fragment. Plain http is allowed for loopback hosts so that local
// development needs no certificate. Exported so that a command line checks
// its setting by the same rule, naming its own flag.
func ValidateIssuer(issuer string) error {
	if issuer == "" {
		return errors.New("required")
	}
	u, err := url.Parse(issuer)
	if err != nil {
		return fmt.Errorf("not a URL: %w", err)
	}
	switch {
	case !u.IsAbs() || u.Host == "":
		return errors.New("must be an absolute URL")
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(issuer, "#"):
		return errors.New("must not have a query or fragment")
	case u.User != nil:
		return errors.New("must not contain user info")
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && isLoopbackHost(u.Hostname()):
		return nil
	case u.Scheme == "http":
		return errors.New("http is allowed only for loopback hosts; use https")
	}
	return fmt.Errorf("scheme %q is not https", u.Scheme)
}

func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

// ParseTrustedProxies parses Config.TrustedProxies: CIDRs and single
// addresses (as /32 or /128). Exported so that a command line accepts
// exactly what Config accepts.
func ParseTrustedProxies(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for i, s := range list {
		s = strings.TrimSpace(s)
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("TrustedProxies[%d]: %q is neither a CIDR nor an IP address", i, s)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// DPoPConfig configures DPoP proofs at the token endpoint (RFC 9449).
// Proofs are always accepted; a client registered with RequireDPoP must
// send one.
type DPoPConfig struct {
	// Replay remembers proofs seen (RFC 9449 §11.1). Share one (Redis)
	// across instances; nil means an in-process dpop.MemoryReplayCache,
	// which catches replays to this instance only.
	Replay store.ProofReplayCache
	// Nonces, when set, makes every proof carry a server-provided nonce
	// (§8): a proof without a current one is answered use_dpop_nonce with
	// a fresh DPoP-Nonce header. All instances need the same secret.
	Nonces *dpop.Nonces
	// MaxAge is how old a proof's iat may be (dpop.DefaultMaxAge when 0).
	MaxAge time.Duration
}
