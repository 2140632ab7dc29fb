package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/tokenserver/tokenserver/internal/telemetry"
	"github.com/tokenserver/tokenserver/keys"
	"github.com/tokenserver/tokenserver/sessions"
	"github.com/tokenserver/tokenserver/tokenserver"
	"github.com/tokenserver/tokenserver/tokenserver/password"
)

// serveConfig is everything `tokenserver serve` is configured with.
type serveConfig struct {
	adminAPI bool
	store    storeFlags
	metrics  metricsFlags

	addr            string
	issuer          string
	audience        listFlag
	scopes          listFlag
	accessTTL       time.Duration
	refreshIdleTTL  time.Duration
	refreshAbsTTL   time.Duration
	reuseLeeway     time.Duration
	signingAlg      string
	publishAlgs     listFlag
	rotationPeriod  time.Duration
	jwksMaxAge      time.Duration
	migrate         bool
	keyFile         string
	nextKeyFiles    listFlag
	retiredKeyFiles listFlag
	demoUser        string
	demoClient      string
	hashConcurrency int
	hashQueue       time.Duration
	argon2Memory    uint
	argon2Time      uint
	argon2Threads   uint
	throttleUser    int
	throttleIP      int
	throttleWindow  time.Duration
	trustedProxies  listFlag
	clientCacheTTL  time.Duration
	logLevel        string
	logFormat       string
	shutdownTimeout time.Duration
	audit           auditFlags
	dpop            dpopFlags
	drainDelay      time.Duration
	accessLog       bool
}

const (
	defaultDemoUser   = "demo:demo-password"
	defaultDemoClient = "demo-client:demo-secret"
)

func parseServeConfig(e env, args []string) (*serveConfig, error) {
	c := &serveConfig{}
	fs := newFlagSet("serve", "serve [flags]", e.stderr)
	c.store.register(fs)
	fs.StringVar(&c.addr, "addr", "127.0.0.1:8080", "listen address")
	fs.StringVar(&c.issuer, "issuer", "", "public https URL of this server (iss claim and discovery); required unless --addr is a loopback address, where it defaults to http://<addr>")
	fs.Var(&c.audience, "audience", "default aud of access tokens, comma-separated (default: the issuer)")
	fs.Var(&c.scopes, "scopes", "scopes advertised in discovery metadata, comma-separated")
	fs.DurationVar(&c.accessTTL, "access-token-ttl", tokenserver.DefaultAccessTokenTTL, "access token lifetime")
	fs.DurationVar(&c.refreshIdleTTL, "refresh-idle-ttl", tokenserver.DefaultRefreshIdleTTL, "refresh token idle lifetime")
	fs.DurationVar(&c.refreshAbsTTL, "refresh-absolute-ttl", tokenserver.DefaultRefreshAbsoluteTTL, "refresh session absolute lifetime")
	fs.DurationVar(&c.reuseLeeway, "refresh-reuse-leeway", 0, "grace period in which a client may retry a refresh whose response it lost (0 = off)")
	fs.StringVar(&c.signingAlg, "signing-alg", keys.DefaultAlgorithm, "access token signing algorithm: ES256, RS256 or EdDSA")
	fs.Var(&c.publishAlgs, "publish-algs", "extra algorithms whose keys are kept published, comma-separated")
	fs.DurationVar(&c.rotationPeriod, "key-rotation-period", keys.DefaultRotationPeriod, "how often the signing key rotates (0 = only on demand)")
	fs.DurationVar(&c.jwksMaxAge, "jwks-max-age", keys.DefaultMaxAge, "JWKS Cache-Control max-age; a new key is published this long before it signs")
	fs.BoolVar(&c.migrate, "migrate", false, "apply database migrations before serving")
	fs.StringVar(&c.keyFile, "signing-key-file", "", "PEM private key that signs (keys from files instead of the database; no automatic rotation)")
	fs.Var(&c.nextKeyFiles, "next-key-files", "with --signing-key-file: PEM keys published ahead of a planned switch, comma-separated")
	fs.Var(&c.retiredKeyFiles, "retired-key-files", "with --signing-key-file: PEM keys still published for tokens they signed, comma-separated")
	fs.StringVar(&c.demoUser, "demo-user", defaultDemoUser, "embedded mode only: demo user NAME:PASSWORD")
	fs.StringVar(&c.demoClient, "demo-client", defaultDemoClient, "embedded mode only: demo client ID:SECRET")
	fs.IntVar(&c.hashConcurrency, "hash-concurrency", 0, "password hashes computed at once (0 = one per CPU, fewer if the memory limit (cgroup or GOMEMLIMIT) cannot hold them)")
	fs.DurationVar(&c.hashQueue, "hash-queue-timeout", 2*time.Second, "how long a login may wait for a hashing slot before 503")
	owasp := password.OWASP()
	fs.UintVar(&c.argon2Memory, "argon2-memory", uint(owasp.Memory), "argon2id memory for new hashes, KiB (OWASP minimum)")
	fs.UintVar(&c.argon2Time, "argon2-time", uint(owasp.Time), "argon2id iterations for new hashes (OWASP minimum)")
	fs.UintVar(&c.argon2Threads, "argon2-threads", uint(owasp.Threads), "argon2id parallelism for new hashes")
	fs.IntVar(&c.throttleUser, "throttle-user-failures", tokenserver.DefaultUserFailures, "failed logins allowed per (username, client IP) per window")
	fs.IntVar(&c.throttleIP, "throttle-ip-failures", tokenserver.DefaultIPFailures, "failed logins allowed per client IP per window")
	fs.DurationVar(&c.throttleWindow, "throttle-window", tokenserver.DefaultThrottleWindow, "login throttling window")
	fs.DurationVar(&c.clientCacheTTL, "client-cache-ttl", tokenserver.DefaultClientCacheTTL, "how long a client registration is reused without a database read; a deleted client stops authenticating within it (0 = no cache)")
	fs.Var(&c.trustedProxies, "trusted-proxies", "reverse proxies whose X-Forwarded-For is trusted: CIDRs or single IP addresses, comma-separated")
	fs.BoolVar(&c.adminAPI, "admin-api", true, "serve the admin API under /admin/v1/ (bearer tokens of an admin client, scope admin or admin:users|clients|keys)")
	fs.StringVar(&c.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.StringVar(&c.logFormat, "log-format", "text", "log format: text or json")
	fs.BoolVar(&c.accessLog, "access-log", false, "log one info line per request (method, route, status, duration, client id, error code, trace id)")
	fs.DurationVar(&c.drainDelay, "drain-delay", 5*time.Second, "after SIGTERM: /readyz answers 503 at once and requests are still served this long, so load balancers stop sending first; then the shutdown")
	fs.DurationVar(&c.shutdownTimeout, "shutdown-timeout", 15*time.Second, "after the drain delay: how long in-flight requests may take to finish")
	c.metrics.register(fs)
	c.audit.registerServe(fs)
	c.dpop.register(fs)
	if err := parseFlags(fs, args, e.getenv); err != nil {
		return nil, err
	}
	if err := exactArgs(fs); err != nil {
		return nil, err
	}
	return c, c.validate()
}

// validate checks the settings that no later constructor checks, naming the
// setting in every error.
func (c *serveConfig) validate() error {
	var errs []error
	bad := func(flagName, format string, a ...any) {
		errs = append(errs, fmt.Errorf("--%s [%s]: %s", flagName, envName(flagName), fmt.Sprintf(format, a...)))
	}
	host, port, err := net.SplitHostPort(c.addr)
	if err != nil {
		bad("addr", "%v", err)
	}
	switch {
	case c.issuer != "":
		// The library's rule (RFC 8414 §2), reported against the flag.
		if err := tokenserver.ValidateIssuer(c.issuer); err != nil {
			bad("issuer", "%v, got %q", err, c.issuer)
		}
	case err == nil && isLoopback(host):
		c.issuer = "http://" + c.addr // local development: no certificate needed
	case err == nil:
		// Tokens name their issuer: on a reachable address that is the
		// public URL, which only the operator knows. Guessing one (the
		// container's host name, http://0.0.0.0) would mint tokens no
		// verifier accepts, or accept http on a public network. The
		// message names both spellings of the setting and, for a container
		// reached through a published port, the one value that works.
		errs = append(errs, fmt.Errorf("--addr %s is not a loopback address, so the issuer must be given: set %s (or --issuer) to the URL clients reach this server at, e.g. https://auth.example.com, or http://localhost:%s for a local container with its port published",
			c.addr, envName("issuer"), port))
	}
	for _, sc := range c.scopes {
		if !tokenserver.ValidScopeToken(sc) {
			bad("scopes", "invalid scope %q (RFC 6749 §3.3: printable ASCII, no space, quote or backslash)", sc)
		}
	}
	for name, d := range map[string]time.Duration{
		"access-token-ttl": c.accessTTL, "refresh-idle-ttl": c.refreshIdleTTL,
		"refresh-absolute-ttl": c.refreshAbsTTL, "jwks-max-age": c.jwksMaxAge,
		"hash-queue-timeout": c.hashQueue, "throttle-window": c.throttleWindow, "shutdown-timeout": c.shutdownTimeout,
	} {
		if d <= 0 {
			bad(name, "must be positive, got %s", d)
		}
	}
	if c.refreshIdleTTL > c.refreshAbsTTL {
		bad("refresh-idle-ttl", "must not exceed --refresh-absolute-ttl")
	}
	if c.reuseLeeway < 0 || c.reuseLeeway > time.Minute {
		bad("refresh-reuse-leeway", "must be between 0 and 1m, got %s", c.reuseLeeway)
	}
	if c.drainDelay < 0 {
		bad("drain-delay", "must not be negative, got %s", c.drainDelay)
	}
	if c.rotationPeriod < 0 {
		bad("key-rotation-period", "must not be negative")
	}
	if c.keyFile == "" && len(c.nextKeyFiles)+len(c.retiredKeyFiles) > 0 {
		bad("next-key-files", "needs --signing-key-file")
	}
	switch c.signingAlg {
	case "ES256", "RS256", "EdDSA":
	default:
		bad("signing-alg", "must be ES256, RS256 or EdDSA, got %q", c.signingAlg)
	}
	if c.clientCacheTTL < 0 || c.clientCacheTTL > time.Minute {
		bad("client-cache-ttl", "must be between 0 and 1m, got %s", c.clientCacheTTL)
	}
	if c.hashConcurrency < 0 {
		bad("hash-concurrency", "must not be negative")
	}
	if c.throttleUser <= 0 {
		bad("throttle-user-failures", "must be positive")
	}
	if c.throttleIP <= 0 {
		bad("throttle-ip-failures", "must be positive")
	}
	if _, _, ok := strings.Cut(c.demoUser, ":"); !ok {
		bad("demo-user", "must be NAME:PASSWORD")
	}
	if _, _, ok := strings.Cut(c.demoClient, ":"); !ok {
		bad("demo-client", "must be ID:SECRET")
	}
	for _, p := range c.trustedProxies {
		// Exactly what tokenserver.Config accepts: CIDRs and bare addresses.
		if _, err := tokenserver.ParseTrustedProxies([]string{p}); err != nil {
			bad("trusted-proxies", "%q is neither a CIDR nor an IP address", p)
		}
	}
	c.metrics.validate(bad)
	if _, err := parseLogLevel(c.logLevel); err != nil {
		bad("log-level", "%v", err)
	}
	if c.logFormat != "text" && c.logFormat != "json" {
		bad("log-format", "must be text or json")
	}
	return errors.Join(errs...)
}

func runServe(ctx context.Context, e env, args []string) error {
	cfg, err := parseServeConfig(e, args)
	if err != nil {
		return err
	}
	logger := newLogger(e.stderr, cfg.logLevel, cfg.logFormat)
	now := time.Now
	obs := newServeMetrics(cfg.metrics)
	// Tracing is configured by the standard OTEL_* variables (off unless
	// an OTLP endpoint or exporter is set). Deferred first, so it runs
	// last: the spans of the requests drained by Shutdown are exported.
	tracing, err := telemetry.Setup(ctx, e.getenv, version, logger)
	if err != nil {
		return err
	}
	defer func() {
		flushCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := tracing.Shutdown(flushCtx); err != nil {
			logger.Warn("flushing traces", "err", err)
		}
	}()
	cfg.store.tracerProvider = tracing.TracerProvider()
	// Checked before connecting: without a KEK we refuse to store keys.
	sealer, err := cfg.store.sealer()
	if err != nil {
		return err
	}

	b, err := openBackends(ctx, &cfg.store, now, logger)
	if err != nil {
		return err
	}
	defer b.Close()
	// Before anything that emits is built: sessions, keys, the admin
	// service and the server all take b.audit.
	auditSink, closeAudit, err := serveAudit(cfg.audit, e.stdout, now, logger, obs.registerer(), obs.clients())
	if err != nil {
		return err
	}
	defer closeAudit() // after Shutdown: every event of a drained request is written
	b.audit = auditSink
	if b.pg != nil && cfg.migrate {
		if err := b.pg.Migrate(ctx); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
	}

	hasher, err := password.NewHasher(password.Config{
		Params: password.Params{
			Memory: uint32(cfg.argon2Memory), Time: uint32(cfg.argon2Time), Threads: uint8(cfg.argon2Threads),
			KeyLen: password.OWASP().KeyLen, SaltLen: password.OWASP().SaltLen,
		},
		MaxConcurrent: hashSlots(cfg, e.getenv, os.DirFS("/"), runtime.GOMAXPROCS(0), logger),
		QueueTimeout:  cfg.hashQueue,
		Observer:      password.JoinObservers(obs.hashObserver(), tracing.HashObserver()),
	})
	if err != nil {
		return fmt.Errorf("password hashing settings: %w", err)
	}
	reserveSchedulerHeadroom(e.getenv, hasher.MaxConcurrent(), int(hasher.Params().Threads))

	km, err := newKeyManager(ctx, cfg, b, sealer, now, logger)
	if err != nil {
		return err
	}

	if b.memory {
		if err := seedDemo(ctx, e, b, hasher, cfg, now()); err != nil {
			return err
		}
		if len(cfg.scopes) == 0 {
			cfg.scopes = demoScopes // known: the demo client's (RFC 8414 scopes_supported)
		}
	}

	sess, err := b.sessions(cfg.accessTTL, now, logger)
	if err != nil {
		return err
	}
	// Before any token is issued, the database learns how long this
	// server's tokens live, so revocations written elsewhere outlive them.
	if err := sessions.RecordLifetime(ctx, b.lifetimes, cfg.accessTTL, now); err != nil {
		return fmt.Errorf("recording the access-token lifetime: %w", err)
	}
	// The relay starts at the durable log's head before anything is
	// served: later revocations, whoever writes them, reach this process's
	// cache and streams through it.
	var relay *sessions.Relay
	if b.log != nil {
		rc := sessions.RelayConfig{Log: b.log, Cache: b.cache, Shared: b.shared, Relayed: obs.relayed(), Now: now, Logger: logger}
		if b.local != nil {
			rc.Local = b.local
		}
		if b.tiered != nil {
			rc.CacheMissed = b.tiered.Missed
		}
		if relay, err = sessions.NewRelay(ctx, rc); err != nil {
			return fmt.Errorf("DATABASE_URL: %w", err)
		}
	}

	dpopCfg, err := cfg.dpop.config(&cfg.store, b)
	if err != nil {
		return err
	}
	srv, err := tokenserver.New(tokenserver.Config{
		Issuer:             cfg.issuer,
		Audience:           cfg.audience,
		Scopes:             cfg.scopes,
		AccessTokenTTL:     cfg.accessTTL,
		RefreshIdleTTL:     cfg.refreshIdleTTL,
		RefreshAbsoluteTTL: cfg.refreshAbsTTL,
		RefreshReuseLeeway: cfg.reuseLeeway,
		Users:              b.users,
		Clients:            b.clients,
		Refresh:            b.refresh,
		Revocations:        b.revocations,
		Feed:               b.feed,
		Throttle:           b.throttle,
		ThrottleLimits: tokenserver.ThrottleLimits{
			UserFailures: cfg.throttleUser, IPFailures: cfg.throttleIP, Window: cfg.throttleWindow,
		},
		TrustedProxies: cfg.trustedProxies,
		ClientCacheTTL: clientCacheTTL(cfg.clientCacheTTL),
		Keys:           km,
		Hasher:         hasher,
		Sessions:       sess,
		Audit:          b.audit,
		AuditReasons:   cfg.audit.reasons,
		Now:            now,
		Logger:         logger,
		TracerProvider: tracing.TracerProvider(),
		DPoP:           dpopCfg,
		Ready:          readyChecks(b, km),
		OnReadiness:    obs.setDependencyUp,
		OnRequest:      chainOnRequest(obs.onRequest(), onRequest(cfg, logger)),
	})
	if err != nil {
		return err
	}
	obs.watch(b, srv, hasher, km, now)

	// Start-up computed an argon2id hash (the dummy hash for unknown users,
	// and the demo user's): 19 MiB the runtime would otherwise keep until
	// its scavenger gets to it. Hand it back now so the idle footprint is
	// what serving needs (measured: 28 → 9 MiB RSS).
	debug.FreeOSMemory()

	handler, err := withAdminAPI(ctx, cfg, b, srv, sess, hasher, km, now, logger)
	if err != nil {
		return err
	}
	// One server span per request, admin API included, outermost so
	// everything below joins the caller's trace.
	handler = tracing.Handler(handler)
	if e.serveHandler != nil {
		return e.serveHandler(ctx, handler)
	}

	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return fmt.Errorf("--addr [%s]: %w", envName("addr"), err)
	}
	stopMetrics, err := obs.start(logger)
	if err != nil {
		ln.Close()
		return err
	}
	httpSrv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		// No WriteTimeout: the revocation stream is long-lived; every other
		// handler writes small bodies and runs under its request's deadline.
		IdleTimeout:    90 * time.Second,
		MaxHeaderBytes: 16 << 10,
		ErrorLog:       slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	// Revocation streams never go idle; end them so Shutdown can drain.
	httpSrv.RegisterOnShutdown(srv.Close)

	// Background work ends with runCtx; the server's Shutdown ends it too.
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := km.Run(runCtx); err != nil && !errors.Is(err, context.Canceled) {
			logger.Error("key manager stopped", "err", err)
		}
	})
	if b.tiered != nil {
		wg.Go(func() {
			sessions.RunReseed(runCtx, sessions.ReseedConfig{Cache: b.tiered, Feed: b.feed, Now: now, Logger: logger})
		})
	}
	if relay != nil {
		wg.Go(func() { relay.Run(runCtx) })
	}
	if b.lifetimes != nil {
		wg.Go(func() { sessions.RunLifetimeRecorder(runCtx, b.lifetimes, cfg.accessTTL, now, logger) })
	}
	if b.pg != nil {
		wg.Go(func() { sessions.RunPurge(runCtx, b.pg, now, logger) })
	}

	serveErr := make(chan error, 1)
	go func() { serveErr <- httpSrv.Serve(ln) }()
	logger.Info("tokenserver listening", "addr", ln.Addr().String(), "issuer", cfg.issuer,
		"store", map[bool]string{true: "memory", false: "postgres"}[b.memory], "version", version)

	select {
	case err := <-serveErr:
		cancel()
		wg.Wait()
		stopCtx, stop := context.WithTimeout(context.Background(), cfg.shutdownTimeout)
		defer stop()
		_ = stopMetrics(stopCtx)
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	if err := drain(srv, httpSrv, cfg.drainDelay, e.force, serveErr, logger); err != nil {
		cancel()
		wg.Wait()
		return err
	}
	logger.Info("shutting down", "timeout", cfg.shutdownTimeout)
	cancel()
	shutdownCtx, stop := context.WithTimeout(context.Background(), cfg.shutdownTimeout)
	defer stop()
	err = errors.Join(httpSrv.Shutdown(shutdownCtx), stopMetrics(shutdownCtx))
	wg.Wait()
	if err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	logger.Info("stopped")
	return nil
}

// isLoopback reports whether a listen host is reachable from this machine
// only. An empty host (":8080") listens on every interface.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

// clientCacheTTL maps the flag (0 = no cache) to tokenserver.Config
// (negative = no cache, zero = default).
func clientCacheTTL(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

func randomBytes(n int) ([]byte, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("random: %w", err)
	}
	return b, nil
}

// newKeyManager loads the signing keys: from PEM files when configured (a
// mounted secret; no automatic rotation), otherwise from the store, which
// creates and rotates them.
func newKeyManager(ctx context.Context, cfg *serveConfig, b *backends, sealer *keys.Sealer, now func() time.Time, logger *slog.Logger) (*keys.Manager, error) {
	maxTTL, err := longestAccessTTL(ctx, b, cfg.accessTTL)
	if err != nil {
		return nil, fmt.Errorf("signing keys: %w", err)
	}
	rotation := cfg.rotationPeriod
	if rotation == 0 {
		rotation = -1 // keys.Config: negative disables scheduled rotation
	}
	kc := keys.Config{
		Store:             b.keys,
		Sealer:            sealer,
		Algorithm:         cfg.signingAlg,
		PublishAlgorithms: cfg.publishAlgs,
		RotationPeriod:    rotation,
		MaxAge:            cfg.jwksMaxAge,
		MaxTokenTTL:       maxTTL,
		Now:               now,
		Logger:            logger,
		Audit:             b.audit,
	}
	if cfg.keyFile != "" {
		static, err := keys.LoadPEMFiles(cfg.keyFile, cfg.nextKeyFiles, cfg.retiredKeyFiles)
		if err != nil {
			return nil, fmt.Errorf("--signing-key-file [%s]: %w", envName("signing-key-file"), err)
		}
		m, err := keys.NewStaticManager(kc, static)
		if err != nil {
			return nil, fmt.Errorf("--signing-key-file [%s]: %w", envName("signing-key-file"), err)
		}
		return m, nil
	}
	m, err := keys.NewManager(ctx, kc)
	if err != nil {
		return nil, fmt.Errorf("signing keys: %w", err)
	}
	return m, nil
}
