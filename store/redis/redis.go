// Package redis keeps tokenserver's shared, fast-changing state in Redis: the
// access-token denylist cache (store.RevocationStore), the revocation feed to
// every instance and resource server (store.RevocationFeed, pub/sub) and the
// failed-login counters (store.LoginThrottle), and the DPoP proofs seen
// (store.ProofReplayCache).
//
// It is a cache, not the record: store/tiered puts it in front of a durable
// RevocationStore and reseeds it after a flush or a failover. Every network
// failure is returned wrapping store.ErrUnavailable so callers can fall back.
//
// Key layout under Config.Prefix (default "tokenserver:"):
//
//	<prefix>rev:<kind>:<value>   JSON store.Revocation, PEXPIREAT its ExpiresAt
//	<prefix>revgen               "seeding:<gen>" or "ready:<gen>": whether the cache is complete (seed.go)
//	<prefix>{throttle}:<key>     attempts counted in the current window, PEXPIRE'd at its end
//	<prefix>dpop:<sha256(key)>   a DPoP proof seen (proofreplay.go), PEXPIREAT when it could no longer be accepted
//	<prefix>revocations          pub/sub channel, message = JSON store.Revocation
package redis

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/trace"

	"github.com/tokenserver/tokenserver/store"
)

// DefaultPrefix is the key prefix when Config.Prefix is empty.
const DefaultPrefix = "tokenserver:"

// Config says how to reach Redis.
type Config struct {
	// URL selects the deployment:
	//   redis://[user:pass@]host:port[/db]            one server (rediss:// for TLS)
	//   redis://host1:port1?addr=host2:port2&addr=…    Redis Cluster (seed nodes)
	//   redis+cluster://host:port                      Redis Cluster with one seed
	//   redis+sentinel://[user:pass@]s1:port,s2:port/mastername[/db]
	//                                                  Sentinel-managed primary
	URL string
	// Prefix starts every key and the channel name, so several deployments
	// can share one server. Default DefaultPrefix.
	Prefix string
	// DialTimeout bounds establishing a connection; default 2s.
	DialTimeout time.Duration
	// ReadTimeout bounds waiting for a reply (and writing a command);
	// default 1s. The denylist sits on the request path, so a slow Redis
	// must turn into ErrUnavailable (and a fallback) quickly. A whole call
	// (waiting for a pooled connection, dialling, the retry) is bounded by
	// twice the read timeout (twice 5s if the URL disables it).
	ReadTimeout time.Duration
	// TracerProvider, if set, makes a span per command and per pipeline
	// (db.system, db.operation: the command name; never arguments) under
	// the span in the caller's context. Nil: no tracing, no cost.
	TracerProvider trace.TracerProvider
}

// Store is a Redis-backed RevocationStore, RevocationFeed, LoginThrottle and
// Pinger. It is safe for concurrent use. Close it when done.
type Store struct {
	client  goredis.UniversalClient
	prefix  string
	channel string
	// readTimeout bounds waiting for a subscription's confirmation.
	readTimeout time.Duration
	// feedPingInterval is how long a subscription may stay silent before
	// Subscribe checks the connection with a PING; one unanswered for
	// another interval is replaced (tests shorten it). Short, because a
	// silent subscription may be on a server that will never answer again:
	// a frozen one, or, behind Sentinel, the demoted primary, whose pub/sub
	// connections go-redis keeps after a failover (it closes only pooled
	// ones), so revocations published on the new primary would not arrive
	// until the subscription is replaced.
	feedPingInterval time.Duration
}

var (
	_ store.RevocationStore = (*Store)(nil)
	_ store.RevocationFeed  = (*Store)(nil)
	_ store.LoginThrottle   = (*Store)(nil)
	_ store.Pinger          = (*Store)(nil)
)

// Open creates the client for cfg. It does not wait for the server: a cache
// that is down at start must not keep the token server from starting (the
// tiered store answers from the durable record meanwhile), so check readiness
// with Ping. Open fails only on an invalid configuration.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("redis: open: %w", err)
	}
	opts, err := parseURL(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("redis: open: %w", err)
	}
	applyDefaults(opts, cfg)
	prefix := cfg.Prefix
	if prefix == "" {
		prefix = DefaultPrefix
	}
	readTimeout := opts.ReadTimeout
	if readTimeout <= 0 { // disabled by the URL
		readTimeout = 5 * time.Second
	}
	client := goredis.NewUniversalClient(opts)
	if cfg.TracerProvider != nil {
		// First, so the span covers the deadline hook's whole call.
		client.AddHook(newTracingHook(cfg.TracerProvider))
	}
	client.AddHook(deadlineHook{timeout: 2 * readTimeout})
	return &Store{
		client:           client,
		prefix:           prefix,
		readTimeout:      readTimeout,
		channel:          prefix + "revocations",
		feedPingInterval: time.Second,
	}, nil
}

// applyDefaults sets timeouts and retry behaviour suited to a cache on the
// request path, keeping values the URL set explicitly.
func applyDefaults(o *goredis.UniversalOptions, cfg Config) {
	switch {
	case cfg.DialTimeout > 0:
		o.DialTimeout = cfg.DialTimeout
	case o.DialTimeout == 0:
		o.DialTimeout = 2 * time.Second
	}
	switch {
	case cfg.ReadTimeout > 0:
		o.ReadTimeout = cfg.ReadTimeout
	case o.ReadTimeout == 0:
		o.ReadTimeout = time.Second
	}
	if o.WriteTimeout == 0 {
		o.WriteTimeout = o.ReadTimeout
	}
	// go-redis retries a failed dial 5 times, 100ms apart, and each command
	// 3 times: seconds of waiting before a request can fall back to the
	// durable store. One retry of each covers a dropped idle connection.
	if o.DialerRetries == 0 {
		o.DialerRetries = 1
	}
	if o.MaxRetries == 0 {
		o.MaxRetries = 1
	}
	// Honour the caller's context deadline on the socket, not only the
	// fixed timeouts.
	o.ContextTimeoutEnabled = true
}

// deadlineHook bounds every command and pipeline as a whole. The socket
// timeouts bound each read and write, but a call on a frozen server (TCP up,
// nothing answering) would otherwise wait PoolTimeout for a connection,
// ReadTimeout for the reply, and then all of that again for go-redis's
// retry, which retries timeouts too: seconds before the tiered store may
// fall back. With ContextTimeoutEnabled the context deadline also shortens
// the pool wait and the socket deadlines. Subscriptions have their own
// bounds (see subscription).
type deadlineHook struct{ timeout time.Duration }

func (h deadlineHook) DialHook(next goredis.DialHook) goredis.DialHook { return next }

func (h deadlineHook) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		ctx, cancel := context.WithTimeout(ctx, h.timeout)
		defer cancel()
		return next(ctx, cmd)
	}
}

func (h deadlineHook) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []goredis.Cmder) error {
		ctx, cancel := context.WithTimeout(ctx, h.timeout)
		defer cancel()
		return next(ctx, cmds)
	}
}

// PoolStats returns the client's connection pool statistics (for the pool
// metrics); a few atomic reads.
func (s *Store) PoolStats() *goredis.PoolStats { return s.client.PoolStats() }

// Close releases the connections. Subscriptions end with it.
func (s *Store) Close() error {
	if err := s.client.Close(); err != nil && !errors.Is(err, goredis.ErrClosed) {
		return fmt.Errorf("redis: close: %w", err)
	}
	return nil
}

// Ping returns nil when the server answers, else an error wrapping
// store.ErrUnavailable (whatever the cause: readiness means "usable").
func (s *Store) Ping(ctx context.Context) error {
	if err := s.client.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis: ping: %w: %w", store.ErrUnavailable, err)
	}
	return nil
}

// wrap prefixes err with the operation and marks failures to reach or use
// the server with store.ErrUnavailable (keeping the cause for errors.Is).
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	if unavailable(err) {
		return fmt.Errorf("redis: %s: %w: %w", op, store.ErrUnavailable, err)
	}
	return fmt.Errorf("redis: %s: %w", op, err)
}

// unavailable reports whether err means the server could not be reached or
// could not serve (as opposed to a bug or a bad reply).
func unavailable(err error) bool {
	var netErr net.Error
	switch {
	case errors.As(err, &netErr),
		errors.Is(err, goredis.ErrClosed),
		errors.Is(err, goredis.ErrPoolTimeout),
		errors.Is(err, goredis.ErrPoolExhausted),
		errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, io.EOF),
		errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE):
		return true
	}
	// Server-side states in which it answers but cannot serve: still
	// loading, a failover in progress, cluster slots down, out of memory.
	return goredis.IsLoadingError(err) ||
		goredis.IsReadOnlyError(err) ||
		goredis.IsClusterDownError(err) ||
		goredis.IsTryAgainError(err) ||
		goredis.IsMasterDownError(err) ||
		goredis.IsMaxClientsError(err) ||
		goredis.IsNoReplicasError(err) ||
		goredis.IsOOMError(err)
}
