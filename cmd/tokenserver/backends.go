package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/tokenserver/tokenserver/audit"
	"go.opentelemetry.io/otel/trace"

	"github.com/tokenserver/tokenserver/keys"
	"github.com/tokenserver/tokenserver/sessions"
	"github.com/tokenserver/tokenserver/store"
	"github.com/tokenserver/tokenserver/store/fanout"
	"github.com/tokenserver/tokenserver/store/memory"
	"github.com/tokenserver/tokenserver/store/postgres"
	"github.com/tokenserver/tokenserver/store/redis"
	"github.com/tokenserver/tokenserver/store/tiered"
	"github.com/tokenserver/tokenserver/tokenserver"
)

// storeFlags are the settings that choose and reach the storage backends.
type storeFlags struct {
	databaseURL        string
	dbMaxConns         int
	dbConnectTimeout   time.Duration
	dbStatementTimeout time.Duration
	dbQueryTimeout     time.Duration
	redisURL           string
	redisPrefix        string
	kek                string
	kekFile            string
	// tracerProvider is not a flag: serve sets it when tracing is on
	// (OTEL_* environment), and the stores then make query spans.
	tracerProvider trace.TracerProvider
}

// register registers every storage setting of `serve`.
func (f *storeFlags) register(fs *flag.FlagSet) {
	f.registerDatabase(fs, true)
	f.registerRedis(fs)
	f.registerKEK(fs)
}

// registerDatabase registers the PostgreSQL settings. Only a server has an
// embedded store to fall back on; for admin commands the URL is required.
func (f *storeFlags) registerDatabase(fs *flag.FlagSet, server bool) {
	usage := "PostgreSQL URL of the servers' database (required)"
	if server {
		usage = "PostgreSQL URL; empty runs on the embedded in-memory store"
	}
	fs.StringVar(&f.databaseURL, "database-url", "", usage)
	fs.IntVar(&f.dbMaxConns, "db-max-conns", 20, "PostgreSQL pool size")
	fs.DurationVar(&f.dbConnectTimeout, "db-connect-timeout", 3*time.Second, "PostgreSQL connect timeout")
	fs.DurationVar(&f.dbStatementTimeout, "db-statement-timeout", 5*time.Second, "PostgreSQL statement timeout")
	fs.DurationVar(&f.dbQueryTimeout, "db-query-timeout", 0,
		"client-side deadline of each PostgreSQL call, so a frozen or unreachable database answers 503 instead of hanging; 0 = statement timeout + 1s")
}

// registerRedis registers the Redis settings.
func (f *storeFlags) registerRedis(fs *flag.FlagSet) {
	fs.StringVar(&f.redisURL, "redis-url", "", "Redis URL (redis://, rediss://, redis+sentinel://); needed for revocation push and shared login throttling")
	fs.StringVar(&f.redisPrefix, "redis-prefix", redis.DefaultPrefix, "prefix of every Redis key and channel")
}

// registerKEK registers the key-encryption key of signing keys at rest.
func (f *storeFlags) registerKEK(fs *flag.FlagSet) {
	fs.StringVar(&f.kek, "kek", "", "key-encryption key for signing keys at rest: 32 random bytes, base64 (required with a database)")
	fs.StringVar(&f.kekFile, "kek-file", "", "file holding the key-encryption key (alternative to --kek)")
}

// sealer returns the AES-GCM sealer for signing keys at rest. With a database
// a KEK is required: we refuse to store private keys in the clear. The
// in-memory store gets a random per-process KEK.
func (f *storeFlags) sealer() (*keys.Sealer, error) {
	kek, err := f.kekBytes()
	if err != nil {
		return nil, err
	}
	if kek == nil {
		if kek, err = randomBytes(32); err != nil {
			return nil, err
		}
	}
	return keys.NewSealer(kek)
}

// kekBytes returns the configured KEK, or nil when none is configured and
// none is needed (the in-memory store).
func (f *storeFlags) kekBytes() ([]byte, error) {
	raw := f.kek
	if raw == "" && f.kekFile != "" {
		b, err := os.ReadFile(f.kekFile)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", envName("kek-file"), err)
		}
		raw = strings.TrimSpace(string(b))
	}
	if raw == "" {
		if f.databaseURL != "" {
			return nil, fmt.Errorf("%s (or %s) is required with DATABASE_URL: signing keys are stored encrypted; generate one with `head -c 32 /dev/urandom | base64`",
				envName("kek"), envName("kek-file"))
		}
		return nil, nil
	}
	kek, err := keys.ParseKEK(raw)
	if err != nil {
		return nil, err // ParseKEK names TOKENSERVER_KEK
	}
	return kek, nil
}

// backends is the set of stores the server and the admin commands use.
type backends struct {
	users       store.UserStore
	clients     store.ClientStore
	refresh     store.RefreshTokenStore
	revocations store.RevocationStore
	feed        store.RevocationFeed
	throttle    store.LoginThrottle
	// dpopReplay is the DPoP proof replay cache shared by every instance
	// (Redis); nil means each process keeps its own.
	dpopReplay store.ProofReplayCache
	keys       store.KeyStore
	// ready checks every dependency for /readyz (see readyChecks).
	ready []tokenserver.ReadyCheck
	// log is the durable revocation log the relay follows; lifetimes the
	// recorded access-token lifetimes (both PostgreSQL; nil embedded).
	log       store.RevocationLog
	lifetimes store.TokenLifetimes
	// With Redis: the cache and the shared feed the relay keeps complete,
	// the local feed of this process's revocation streams, and the tiered
	// denylist to tell about cache writes the relay could not make.
	cache  store.RevocationStore
	shared store.RevocationFeed
	local  *fanout.Feed
	tiered *tiered.Revocations
	// pg is set when running against PostgreSQL, rd with Redis.
	pg *postgres.Store
	rd *redis.Store
	// memory is true for the embedded default.
	memory  bool
	closers []func()
	// audit receives the audit events of everything built on these
	// backends (sessions, admin, keys); nil means none.
	audit audit.Sink
}

// sessions returns the session service over these backends. accessTTL is
// the lifetime this process knows of; stored lifetimes lengthen it.
func (b *backends) sessions(accessTTL time.Duration, now func() time.Time, logger *slog.Logger) (*sessions.Service, error) {
	return sessions.New(sessions.Config{
		Users: b.users, Refresh: b.refresh, Revocations: b.revocations, Feed: b.feed,
		Lifetimes: b.lifetimes, AccessTokenTTL: accessTTL, Now: now, Logger: logger, Audit: b.audit,
	})
}

func (b *backends) Close() {
	for i := len(b.closers) - 1; i >= 0; i-- {
		b.closers[i]()
	}
}

// openBackends opens the embedded memory store when no database is
// configured, otherwise PostgreSQL (users, clients, refresh tokens, keys, the
// durable revocation record) and, when REDIS_URL is set, Redis (revocation
// cache, revocation feed, login throttling).
func openBackends(ctx context.Context, f *storeFlags, now func() time.Time, logger *slog.Logger) (*backends, error) {
	if f.databaseURL == "" {
		if f.redisURL != "" {
			return nil, errors.New("REDIS_URL is set but DATABASE_URL is not: Redis is a cache of the PostgreSQL record; set DATABASE_URL too")
		}
		m := memory.New(now)
		return &backends{
			users: m, clients: m, refresh: m, revocations: m, feed: m, throttle: m, keys: m,
			lifetimes: m, memory: true,
		}, nil
	}
	b := &backends{}
	pg, err := postgres.Open(ctx, postgres.Config{
		URL:              f.databaseURL,
		MaxConns:         int32(f.dbMaxConns),
		ConnectTimeout:   f.dbConnectTimeout,
		StatementTimeout: f.dbStatementTimeout,
		QueryTimeout:     f.dbQueryTimeout,
		TracerProvider:   f.tracerProvider,
	})
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL: %w", err)
	}
	b.closers = append(b.closers, pg.Close)
	// Fail at start, naming the setting, rather than on the first request.
	if err := pg.Ping(ctx); err != nil {
		b.Close()
		return nil, fmt.Errorf("DATABASE_URL: %w", err)
	}
	b.pg = pg
	b.users, b.clients, b.refresh, b.keys = pg, pg, pg, pg
	b.log, b.lifetimes = pg, pg
	// Without PostgreSQL nothing can be issued: critical.
	b.ready = append(b.ready, tokenserver.ReadyCheck{Name: "postgres", Check: pg.Ping, Critical: true})

	local := memory.New(now) // in-process fallbacks
	if f.redisURL == "" {
		logger.Warn("REDIS_URL is not set: revocations are checked in PostgreSQL and reach other instances through it; login throttling is per process")
		b.revocations, b.throttle = pg, local
		// Revocation streams are fed from the durable log by the relay.
		b.local = fanout.New(nil, logger)
		b.closers = append(b.closers, b.local.Close)
		b.feed = b.local
		return b, nil
	}
	// go-redis logs through one process-wide logger: the command's. Each
	// command opens its backends once, so this runs once per process.
	routeRedisLogs(logger)
	rd, err := redis.Open(ctx, redis.Config{URL: f.redisURL, Prefix: f.redisPrefix, TracerProvider: f.tracerProvider})
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	b.closers = append(b.closers, func() { _ = rd.Close() })
	b.rd = rd
	revs := tiered.NewRevocations(pg, rd, logger)
	b.revocations, b.tiered, b.cache, b.shared = revs, revs, rd, rd
	// One Redis subscription per process, shared by every revocation stream.
	feed := fanout.New(rd, logger)
	b.closers = append(b.closers, feed.Close)
	b.feed, b.local = feed, feed
	b.throttle = tiered.NewThrottle(rd, local, logger)
	b.dpopReplay = rd
	// Without Redis the denylist falls back to PostgreSQL and throttling
	// to this process: degraded, still issuing tokens.
	b.ready = append(b.ready, tokenserver.ReadyCheck{Name: "redis", Check: rd.Ping})
	return b, nil
}
