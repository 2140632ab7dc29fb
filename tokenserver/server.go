package tokenserver

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	"github.com/tokenserver/tokenserver/audit"
	"go.opentelemetry.io/otel/trace"

	"github.com/tokenserver/tokenserver/dpop"
	"github.com/tokenserver/tokenserver/sessions"
)

// passwordHasher is the part of *password.Hasher the grants use. Tests in
// this package replace it with a stub to inject password.ErrBusy.
type passwordHasher interface {
	Hash(ctx context.Context, pw string) (string, error)
	Verify(ctx context.Context, pw, encoded string) (ok, needsRehash bool, err error)
	VerifyDummy(ctx context.Context, pw string) error
}

// Server serves the token server's HTTP endpoints.
type Server struct {
	cfg    Config
	now    func() time.Time
	logger *slog.Logger
	hasher passwordHasher
	audit  audit.Sink
	// tracer is Config.TracerProvider's tracer; nil when tracing is off.
	tracer trace.Tracer

	// grants maps a grant_type to its implementation; dispatch consults it.
	grants map[string]grant
	// clients is Config.Clients behind the registration cache; client
	// authentication reads it.
	clients *clientCache
	// dummySecretHash is compared against when the client is unknown, so an
	// unknown client costs the same as a wrong secret.
	dummySecretHash string
	// metadata is the RFC 8414 document, encoded once.
	metadata []byte
	// endpoint base: the issuer without a trailing slash.
	base string
	// trustedProxies is Config.TrustedProxies parsed.
	trustedProxies []netip.Prefix
	// readyTimeout bounds /readyz (a field so tests can shorten it).
	readyTimeout time.Duration

	// draining is set by Drain: /readyz answers 503 from then on.
	draining atomic.Bool

	// refusals rate-limits the logging of 503 temporarily_unavailable.
	refusals overloadLog

	// streams holds one token per open revocation stream (capacity
	// Config.MaxStreams).
	streams chan struct{}
	// closing is cancelled by Close; every revocation stream ends with it.
	closing      context.Context
	closeStreams context.CancelFunc

	// dpop checks DPoP proofs at the token endpoint.
	dpop *dpop.Checker

	mux *http.ServeMux
}

// New validates cfg, fills in defaults and returns a Server.
func New(cfg Config) (*Server, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	s := &Server{
		cfg:    cfg,
		now:    cfg.Now,
		logger: cfg.Logger,
		hasher: cfg.Hasher,
		audit:  audit.OrDiscard(cfg.Audit),
		tracer: newTracer(cfg.TracerProvider),
		base:   strings.TrimSuffix(cfg.Issuer, "/"),

		readyTimeout: defaultReadyTimeout,
		streams:      make(chan struct{}, cfg.MaxStreams),
	}
	s.closing, s.closeStreams = context.WithCancel(context.Background())
	if _, err := s.sessionService(); err != nil {
		return nil, fmt.Errorf("tokenserver: %w", err)
	}
	s.grants = map[string]grant{
		grantPassword:          {issue: s.passwordGrant},
		grantRefreshToken:      {issue: s.refreshGrant},
		grantClientCredentials: {issue: s.clientCredentialsGrant, confidentialOnly: true},
	}
	s.dpop = s.newDPoPChecker()
	s.clients = newClientCache(cfg.Clients, cfg.ClientCacheTTL, cfg.Now)
	s.dummySecretHash = newDummySecretHash()
	// validate has already parsed them once; this cannot fail.
	s.trustedProxies, _ = ParseTrustedProxies(cfg.TrustedProxies)
	var err error
	if s.metadata, err = s.buildMetadata(); err != nil {
		return nil, fmt.Errorf("tokenserver: metadata: %w", err)
	}
	s.mux = s.routes()
	return s, nil
}

// Handler returns the HTTP handler serving every route.
func (s *Server) Handler() http.Handler {
	if s.cfg.OnRequest == nil {
		return s.mux
	}
	// The mux answers unknown paths (404) and wrong methods (405) itself;
	// they are recorded under RouteOther, one bounded label.
	other := s.instrument(RouteOther, s.mux)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := s.mux.Handler(r); pattern == "" {
			other.ServeHTTP(w, r)
			return
		}
		s.mux.ServeHTTP(w, r)
	})
}

// handlerFunc is a handler that returns its error for writeError.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

func (s *Server) routes() *http.ServeMux {
	mux := http.NewServeMux()
	// POST endpoints check the method themselves so that a wrong method gets
	// an RFC-shaped JSON error (and Allow: POST) rather than the mux's text.
	mux.Handle("/token", s.instrument(RouteToken, s.postOnly(s.handleToken)))
	mux.Handle("/revoke", s.instrument(RouteRevoke, s.postOnly(s.handleRevoke)))
	mux.Handle("/introspect", s.instrument(RouteIntrospect, s.postOnly(s.handleIntrospect)))
	mux.Handle("GET /revocations", s.instrument(RouteRevocations, s.wrapGet(s.handleRevocations)))
	mux.Handle("GET /revocations/stream", s.instrument(RouteRevocationsStream, http.HandlerFunc(s.handleRevocationStream)))
	mux.Handle("GET /.well-known/jwks.json", s.instrument(RouteJWKS, http.HandlerFunc(s.handleJWKS)))
	mux.Handle("GET /.well-known/oauth-authorization-server", s.instrument(RouteMetadata, http.HandlerFunc(s.handleMetadata)))
	mux.Handle("GET /.well-known/openid-configuration", s.instrument(RouteMetadata, http.HandlerFunc(s.handleMetadata)))
	mux.Handle("GET /healthz", s.instrument(RouteHealthz, http.HandlerFunc(s.handleHealthz)))
	mux.Handle("GET /readyz", s.instrument(RouteReadyz, http.HandlerFunc(s.handleReadyz)))
	return mux
}

// postOnly answers anything but POST with 405 and Allow: POST (RFC 9110
// §15.5.6 requires Allow on 405; RFC 6749 §3.2 requires POST at the token
// endpoint; RFC 7009 §2.1 and RFC 7662 §2.1 require it at the revocation
// and introspection endpoints), and renders errors returned by h.
func (s *Server) postOnly(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			writeMethodNotAllowed(w)
			return
		}
		if err := h(w, r); err != nil {
			s.writeError(w, r, err)
		}
	})
}

// writeMethodNotAllowed writes 405 with an invalid_request body.
func writeMethodNotAllowed(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	setNoStore(h)
	w.WriteHeader(http.StatusMethodNotAllowed)
	_, _ = w.Write([]byte(`{"error":"invalid_request","error_description":"method not allowed; use POST"}`))
}

// sessionService is Config.Sessions, or one over the configured stores
// (built per call: revocations are rare, and tests swap stores in s.cfg).
func (s *Server) sessionService() (*sessions.Service, error) {
	if s.cfg.Sessions != nil {
		return s.cfg.Sessions, nil
	}
	return sessions.New(sessions.Config{
		Users: s.cfg.Users, Refresh: s.cfg.Refresh, Revocations: s.cfg.Revocations, Feed: s.cfg.Feed,
		AccessTokenTTL: s.cfg.AccessTokenTTL, Now: s.cfg.Now, Logger: s.cfg.Logger, Audit: s.cfg.Audit,
	})
}

// withSessions runs fn with the session service.
func (s *Server) withSessions(fn func(*sessions.Service) error) error {
	ss, err := s.sessionService()
	if err != nil {
		return err
	}
	return fn(ss)
}

// effective returns d, or def when d is zero (per-client lifetimes).
func effective(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// storeErr wraps a store error with the operation; the sentinel stays
// visible to errors.Is (ErrUnavailable becomes 503 in writeError).
func storeErr(op string, err error) error {
	return fmt.Errorf("tokenserver: %s: %w", op, err)
}

// detachedTimeout bounds writes that must outlive the request.
const detachedTimeout = 5 * time.Second

// detached returns a context that keeps ctx's values but not its
// cancellation, bounded by detachedTimeout, for security-relevant writes
// (failed-login counts, reuse revocations) that must not be skipped because
// the client disconnected.
func detached(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), detachedTimeout)
}
