// Command example-resource-server is a minimal resource server protected by
// tokenserver access tokens. It shows how to use package verifier:
// discovery, offline JWT verification and a revocation source.
//
//	example-resource-server --issuer https://auth.example.com \
//	    --audience https://api.example.com --revocation sse \
//	    --client-id api --client-secret ...
//
// GET /hello requires the scope "read" and answers with the username. It
// accepts bearer tokens (Authorization: Bearer) and DPoP-bound tokens
// (Authorization: DPoP with a DPoP proof, RFC 9449); --dpop required or off
// narrows that, --external-url names the URL clients use behind a proxy
// (proofs sign it), --dpop-nonce-secret turns on resource-server nonces.
// Every flag has an environment twin RESOURCE_<FLAG> (REDIS_URL for
// --redis-url).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/tokenserver/tokenserver/dpop"
	"github.com/tokenserver/tokenserver/store"
	"github.com/tokenserver/tokenserver/store/redis"
	"github.com/tokenserver/tokenserver/verifier"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "example-resource-server:", err)
		}
		os.Exit(2)
	}
}

// options are the parsed flags.
type options struct {
	issuer, audience, addr        string
	revocation                    string
	clientID, clientSecret        string
	redisURL, redisPrefix         string
	allowHTTP                     bool
	dpopMode, externalURL         string
	dpopNonceSecret               string
	introspectCacheTTL            time.Duration
	readyTimeout, shutdownTimeout time.Duration
}

// envName is a flag's environment twin.
func envName(flagName string) string {
	if flagName == "redis-url" {
		return "REDIS_URL"
	}
	return "RESOURCE_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

func parseOptions(args []string, getenv func(string) string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("example-resource-server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.issuer, "issuer", "", "token server issuer URL (required)")
	fs.StringVar(&o.audience, "audience", "", "this server's audience identifier (required)")
	fs.StringVar(&o.addr, "addr", "127.0.0.1:8081", "listen address")
	fs.StringVar(&o.revocation, "revocation", "sse", "revocation source: sse, redis, introspect or none")
	fs.StringVar(&o.clientID, "client-id", "", "client ID for the revocation stream or introspection")
	fs.StringVar(&o.clientSecret, "client-secret", "", "client secret for the revocation stream or introspection")
	fs.StringVar(&o.redisURL, "redis-url", "", "Redis URL (for --revocation redis)")
	fs.StringVar(&o.redisPrefix, "redis-prefix", "", "Redis key prefix (default tokenserver:)")
	fs.BoolVar(&o.allowHTTP, "allow-http", false, "allow a plain-HTTP issuer that is not on loopback")
	fs.StringVar(&o.dpopMode, "dpop", "allowed", "DPoP-bound tokens (RFC 9449): allowed (both schemes), required (DPoP only) or off (Bearer only)")
	fs.StringVar(&o.externalURL, "external-url", "", "the scheme://host[/prefix] clients use to reach this server, compared with DPoP proofs' htu (default: the request's own URL)")
	fs.StringVar(&o.dpopNonceSecret, "dpop-nonce-secret", "", "require resource-server DPoP nonces made with this secret (at least 32 bytes; the same on every instance)")
	fs.DurationVar(&o.introspectCacheTTL, "introspect-cache-ttl", verifier.DefaultIntrospectionCacheTTL, "how long an active introspection answer is reused")
	fs.DurationVar(&o.readyTimeout, "ready-timeout", 10*time.Second, "how long to wait for the first revocation snapshot")
	fs.DurationVar(&o.shutdownTimeout, "shutdown-timeout", 10*time.Second, "graceful shutdown limit")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: example-resource-server [flags]\n\nFlags (environment twin in brackets):")
		fs.VisitAll(func(f *flag.Flag) {
			fmt.Fprintf(stderr, "  --%s [%s]\n      %s (default %q)\n", f.Name, envName(f.Name), f.Usage, f.DefValue)
		})
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	// Environment twins fill the flags not given on the command line.
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if v := getenv(envName(f.Name)); v != "" && !given[f.Name] {
			if err := f.Value.Set(v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", envName(f.Name), err))
			}
		}
	})
	if err := errors.Join(errs...); err != nil {
		return o, err
	}
	switch {
	case o.issuer == "":
		return o, errors.New("--issuer is required")
	case o.audience == "":
		return o, errors.New("--audience is required")
	}
	if _, ok := dpopMode(o.dpopMode); !ok {
		return o, fmt.Errorf("--dpop %q: want allowed, required or off", o.dpopMode)
	}
	switch o.revocation {
	case "sse", "introspect":
		if o.clientID == "" {
			return o, fmt.Errorf("--revocation %s needs --client-id and --client-secret", o.revocation)
		}
	case "redis":
		if o.redisURL == "" {
			return o, errors.New("--revocation redis needs --redis-url")
		}
	case "none":
	default:
		return o, fmt.Errorf("--revocation %q: want sse, redis, introspect or none", o.revocation)
	}
	return o, nil
}

// dpopMode maps --dpop to the verifier's modes.
func dpopMode(flag string) (verifier.DPoPMode, bool) {
	switch flag {
	case "allowed":
		return verifier.DPoPAllowed, true
	case "required":
		return verifier.DPoPRequired, true
	case "off":
		return verifier.DPoPDisabled, true
	}
	return 0, false
}

// dpopConfig builds the verifier's DPoP settings from the flags. Replayed
// proofs are caught per instance (in memory).
func dpopConfig(o options) (verifier.DPoPConfig, error) {
	mode, _ := dpopMode(o.dpopMode) // checked by parseOptions
	c := verifier.DPoPConfig{Mode: mode, ExternalURL: o.externalURL}
	if o.dpopNonceSecret != "" {
		n, err := dpop.NewNonces([]byte(o.dpopNonceSecret), 0, nil)
		if err != nil {
			return c, fmt.Errorf("--dpop-nonce-secret: %w", err)
		}
		c.Nonces = n
	}
	return c, nil
}

// run is the whole program: it serves until ctx ends, then shuts down
// gracefully.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	o, err := parseOptions(args, getenv, stderr)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(stderr, nil))
	dpopCfg, err := dpopConfig(o)
	if err != nil {
		return err
	}
	md, err := verifier.Discover(ctx, nil, o.issuer, o.allowHTTP)
	if err != nil {
		return err
	}
	checker, closeChecker, err := revocationChecker(ctx, o, md, logger)
	if err != nil {
		return err
	}
	defer closeChecker()
	v, err := verifier.New(ctx, verifier.Config{
		Issuer:     o.issuer,
		Audience:   o.audience,
		Metadata:   md,
		AllowHTTP:  o.allowHTTP,
		Revocation: checker,
		Logger:     logger,
		DPoP:       dpopCfg,
	})
	if err != nil {
		return err
	}

	mux := http.NewServeMux()
	mux.Handle("GET /hello", verifier.Middleware(v, "read")(http.HandlerFunc(hello)))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "listening on http://%s\n", ln.Addr())
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	select {
	case err := <-serveErr:
		return err
	case <-ctx.Done():
	}
	sctx, scancel := context.WithTimeout(context.Background(), o.shutdownTimeout)
	defer scancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

func hello(w http.ResponseWriter, r *http.Request) {
	c := verifier.ClaimsFromContext(r.Context())
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, "hello %s\n", c.Username)
}

// revocationChecker builds the checker --revocation asks for, and a
// function releasing what it opened.
func revocationChecker(ctx context.Context, o options, md *verifier.Metadata, logger *slog.Logger) (verifier.RevocationChecker, func(), error) {
	noop := func() {}
	var src verifier.Source
	closer := noop
	switch o.revocation {
	case "none":
		logger.Warn("revocation checks are off: revoked tokens are accepted until they expire")
		return nil, noop, nil
	case "introspect":
		if md.IntrospectionEndpoint == "" {
			return nil, noop, errors.New("the issuer advertises no introspection_endpoint")
		}
		in, err := verifier.NewIntrospection(verifier.IntrospectionConfig{
			Endpoint: md.IntrospectionEndpoint, ClientID: o.clientID, ClientSecret: o.clientSecret,
			CacheTTL: o.introspectCacheTTL,
		})
		return in, noop, err
	case "sse":
		src = verifier.SSESource(o.issuer, o.clientID, o.clientSecret, nil)
	case "redis":
		st, err := redis.Open(ctx, redis.Config{URL: o.redisURL, Prefix: o.redisPrefix})
		if err != nil {
			return nil, noop, err
		}
		closer = func() { _ = st.Close() }
		src = verifier.FeedSource(st, func(ctx context.Context) ([]store.Revocation, error) {
			return st.Active(ctx, time.Now())
		})
	}
	pctx, stopPush := context.WithCancel(ctx)
	p, err := verifier.NewPush(pctx, verifier.PushConfig{Source: src, Logger: logger})
	if err != nil {
		stopPush()
		closer()
		return nil, noop, err
	}
	rctx, cancel := context.WithTimeout(ctx, o.readyTimeout)
	defer cancel()
	if err := p.Ready(rctx); err != nil {
		// Keep going: requests are refused with 503 until the feed syncs.
		logger.Warn("revocation feed not synchronised yet; failing closed until it is", "error", err)
	}
	// Stop the feed before closing what it reads from.
	return p, func() { stopPush(); <-p.Done(); closer() }, nil
}
