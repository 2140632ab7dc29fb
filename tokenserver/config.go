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

// ThrottleLimit allows Limit failed logins per Window.
type ThrottleLimit struct {
	Limit  int
	Window time.Duration
}

// ThrottleLimits are the failed-login counters checked before any password
// is hashed.
type ThrottleLimits struct {
	// PerUserIP counts failures per (lowercased username, client IP);
	// default 5 per 5 minutes.
	PerUserIP ThrottleLimit
	// PerIP counts failures per client IP (IPv6: per /64); default 100 per
	// 5 minutes.
	PerIP ThrottleLimit
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

	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger; default discards.
	Logger *slog.Logger
	// Ready checks run by /readyz.
	Ready []func(context.Context) error
	// TrustedProxies: when the peer address is in one of these prefixes,
	// the client IP is taken from X-Forwarded-For (the right-most address
	// not itself trusted). Empty: the peer address only.
	TrustedProxies []netip.Prefix
	// Scopes advertised in the metadata's scopes_supported.
	Scopes []string
}

// Defaults.
const (
	defaultAccessTokenTTL     = 15 * time.Minute
	defaultRefreshIdleTTL     = 14 * 24 * time.Hour
	defaultRefreshAbsoluteTTL = 90 * 24 * time.Hour
	defaultThrottleWindow     = 5 * time.Minute
	defaultPerUserIPLimit     = 5
	defaultPerIPLimit         = 100
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
	if c.ThrottleLimits.PerUserIP == (ThrottleLimit{}) {
		c.ThrottleLimits.PerUserIP = ThrottleLimit{Limit: defaultPerUserIPLimit, Window: defaultThrottleWindow}
	}
	if c.ThrottleLimits.PerIP == (ThrottleLimit{}) {
		c.ThrottleLimits.PerIP = ThrottleLimit{Limit: defaultPerIPLimit, Window: defaultThrottleWindow}
	}
	if c.Now == nil {
		c.Now = time.Now
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
	if err := validateIssuer(c.Issuer); err != nil {
		bad("Issuer: %w", err)
	}
	for _, a := range c.Audience {
		if a == "" {
			bad("Audience: empty entry")
		}
	}
	for name, d := range map[string]time.Duration{
		"AccessTokenTTL": c.AccessTokenTTL, "RefreshIdleTTL": c.RefreshIdleTTL,
		"RefreshAbsoluteTTL": c.RefreshAbsoluteTTL,
	} {
		if d <= 0 {
			bad("%s: must be positive, got %v", name, d)
		}
	}
	if c.RefreshReuseLeeway < 0 {
		bad("RefreshReuseLeeway: must not be negative, got %v", c.RefreshReuseLeeway)
	}
	for name, l := range map[string]ThrottleLimit{
		"ThrottleLimits.PerUserIP": c.ThrottleLimits.PerUserIP, "ThrottleLimits.PerIP": c.ThrottleLimits.PerIP,
	} {
		if l.Limit <= 0 || l.Window <= 0 {
			bad("%s: Limit and Window must be positive", name)
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
	for i, p := range c.TrustedProxies {
		if !p.IsValid() {
			bad("TrustedProxies[%d]: invalid prefix", i)
		}
	}
	for i, sc := range c.Scopes {
		if !validScopeToken(sc) {
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

// validateIssuer enforces RFC 8414 §2: an https URL with no query or
// fragment. Plain http is allowed for loopback hosts so that local
// development needs no certificate.
func validateIssuer(issuer string) error {
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
