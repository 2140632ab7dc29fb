package verifier

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"time"
)

// Defaults applied by New to zero Config fields.
const (
	DefaultLeeway             = 5 * time.Second
	DefaultMinRefreshInterval = 10 * time.Second
	// DefaultJWKSMaxAge is used when the JWKS response has no max-age.
	DefaultJWKSMaxAge = 5 * time.Minute
	// maxJWKSMaxAge caps a server-supplied max-age so a rotated-out key is
	// eventually forgotten even if the issuer asks for a very long cache.
	maxJWKSMaxAge = 24 * time.Hour
	// maxTokenSize rejects absurd inputs before any decoding.
	maxTokenSize = 16 << 10
	// maxDocumentSize bounds discovery and JWKS response bodies.
	maxDocumentSize = 1 << 20
)

// Config configures a Verifier.
type Config struct {
	// Issuer is the token server's issuer identifier, compared exactly with
	// the metadata's issuer (RFC 8414 §3.3) and each token's iss (RFC 9068 §4).
	Issuer string
	// Audience identifies this resource server; a token whose aud does not
	// contain it is rejected (RFC 9068 §4). Required.
	Audience string
	// HTTPClient fetches discovery metadata and the JWKS. Nil means a client
	// with a 10 s overall timeout.
	HTTPClient *http.Client
	// Leeway tolerates clock skew for exp, nbf and iat. Zero means
	// DefaultLeeway; negative means none.
	Leeway time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Revocation, if set, is asked about every token whose signature and
	// claims check out. Nil means tokens are trusted until they expire.
	Revocation RevocationChecker
	// MinRefreshInterval is the least time between two JWKS fetches caused
	// by tokens with an unknown kid, and the retry interval after a failed
	// refresh. Zero means DefaultMinRefreshInterval.
	MinRefreshInterval time.Duration
	// Metadata, if set, is used instead of fetching discovery metadata (for
	// example the result of Discover, shared with an Introspection checker).
	Metadata *Metadata
	// AllowHTTP permits http:// issuer and jwks_uri URLs on hosts other than
	// loopback. Off by default: keys fetched over plain HTTP can be replaced
	// by anyone on the path.
	AllowHTTP bool
	// Realm is the realm of WWW-Authenticate challenges; empty means Audience.
	Realm string
	// Logger receives operational events (never tokens). Nil discards.
	Logger *slog.Logger
	// DPoP configures sender-constrained tokens (RFC 9449); the zero value
	// accepts both the Bearer and the DPoP scheme.
	DPoP DPoPConfig
}

func (c *Config) withDefaults() (Config, error) {
	cfg := *c
	if cfg.Issuer == "" {
		return cfg, errors.New("verifier: Config.Issuer is required")
	}
	// RFC 9068 §4: the resource server MUST validate that aud contains its
	// own identifier, so an empty audience is a configuration error.
	if cfg.Audience == "" {
		return cfg, errors.New("verifier: Config.Audience is required")
	}
	if err := checkURL("issuer", cfg.Issuer, cfg.AllowHTTP); err != nil {
		return cfg, err
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = DefaultHTTPClient()
	}
	if cfg.Leeway == 0 {
		cfg.Leeway = DefaultLeeway
	} else if cfg.Leeway < 0 {
		cfg.Leeway = 0
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MinRefreshInterval <= 0 {
		cfg.MinRefreshInterval = DefaultMinRefreshInterval
	}
	if cfg.Realm == "" {
		cfg.Realm = cfg.Audience
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return cfg, nil
}

// DefaultHTTPClient returns a client with connection, TLS, header and
// overall timeouts, used when a Config leaves HTTPClient nil.
func DefaultHTTPClient() *http.Client {
	return &http.Client{Transport: defaultTransport(), Timeout: 10 * time.Second}
}

// defaultTransport has every timeout except one on the whole body, so it
// also suits long-lived event streams.
func defaultTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	t.TLSHandshakeTimeout = 5 * time.Second
	t.ResponseHeaderTimeout = 10 * time.Second
	t.IdleConnTimeout = 90 * time.Second
	return t
}

// checkURL requires an absolute https URL (RFC 8414 §2 for the issuer),
// allowing http on loopback hosts, or anywhere when allowHTTP is set.
func checkURL(what, raw string, allowHTTP bool) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("verifier: %s %q: %w", what, raw, err)
	}
	if u.Host == "" {
		return fmt.Errorf("verifier: %s %q is not an absolute URL", what, raw)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if allowHTTP || isLoopback(u.Hostname()) {
			return nil
		}
		return fmt.Errorf("verifier: %s %q must use https (set AllowHTTP to override)", what, raw)
	default:
		return fmt.Errorf("verifier: %s %q must use https", what, raw)
	}
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
