// Package postgres is the PostgreSQL backend of tokenserver (pgx v5 with a
// pgxpool connection pool). It keeps users, clients, refresh-token families,
// the durable revocation denylist and the signing keys, and signals key-set
// changes to other instances with LISTEN/NOTIFY.
//
// Call Migrate once at start-up (it is safe when several instances start at
// once); Open itself does not connect.
package postgres

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel/trace"

	"github.com/tokenserver/tokenserver/store"
)

// Defaults for the zero values of Config.
const (
	DefaultConnectTimeout   = 5 * time.Second
	DefaultStatementTimeout = 10 * time.Second
	// DefaultQueryTimeoutMargin is how much longer than the statement
	// timeout a call may take by default (QueryTimeout 0): time for the
	// server's own cancellation to arrive first, so a slow but live server
	// answers 57014 on a connection that stays usable, and the client-side
	// deadline fires only when the server cannot answer at all.
	DefaultQueryTimeoutMargin = time.Second
)

// Config configures Open.
type Config struct {
	// URL is a libpq connection string or postgres:// URL.
	URL string
	// MaxConns bounds the pool; 0 keeps pgxpool's default (max(4, CPUs))
	// or the URL's pool_max_conns.
	MaxConns int32
	// ConnectTimeout bounds establishing one connection (dial, TLS and
	// authentication); 0 means DefaultConnectTimeout.
	ConnectTimeout time.Duration
	// StatementTimeout is the server-side statement_timeout of every
	// session, so a stuck query cannot hold a connection forever; 0 means
	// DefaultStatementTimeout.
	StatementTimeout time.Duration
	// QueryTimeout is the client-side deadline of every call (waiting for
	// a pooled connection or dialling one, the round trips, reading the
	// rows; each statement of a transaction on its own). It is what bounds
	// a call when the server is frozen or the network drops packets
	// without closing the connection, which statement_timeout cannot
	// notice. When it fires the connection is closed and the call fails
	// with store.ErrUnavailable. 0 means the statement timeout plus
	// DefaultQueryTimeoutMargin. Migrate and the WatchKeys listener are not
	// bounded by it (see there).
	QueryTimeout time.Duration
	// TracerProvider, if set, makes a span per statement (db.system,
	// db.operation: the first keyword; never the SQL text or arguments)
	// under the span in the caller's context. Nil: no tracing, no cost.
	TracerProvider trace.TracerProvider
}

// Store is a PostgreSQL-backed store. It is safe for concurrent use.
type Store struct {
	// pool puts a deadline on every call (see db).
	pool *db

	// Reconnect backoff of WatchKeys and how long its connection may stay
	// silent before it is checked; fields so tests can shorten them.
	watchBackoffMin   time.Duration
	watchBackoffMax   time.Duration
	watchPingInterval time.Duration
}

var (
	_ store.UserStore         = (*Store)(nil)
	_ store.ClientStore       = (*Store)(nil)
	_ store.RefreshTokenStore = (*Store)(nil)
	_ store.RevocationStore   = (*Store)(nil)
	_ store.KeyStore          = (*Store)(nil)
	_ store.KeyWatcher        = (*Store)(nil)
	_ store.Pinger            = (*Store)(nil)
)

// Open validates cfg and creates the connection pool. It does not connect:
// call Ping to check the server (connections are made on first use).
func Open(ctx context.Context, cfg Config) (*Store, error) {
	pcfg, err := poolConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: open: %w", classify(err))
	}
	return &Store{
		pool:              &db{pool: pool, timeout: queryTimeout(cfg)},
		watchBackoffMin:   100 * time.Millisecond,
		watchBackoffMax:   10 * time.Second,
		watchPingInterval: time.Minute,
	}, nil
}

func poolConfig(cfg Config) (*pgxpool.Config, error) {
	switch {
	case cfg.URL == "":
		return nil, errors.New("URL is required")
	case cfg.MaxConns < 0:
		return nil, errors.New("MaxConns must not be negative")
	case cfg.ConnectTimeout < 0:
		return nil, errors.New("ConnectTimeout must not be negative")
	case cfg.StatementTimeout < 0:
		return nil, errors.New("StatementTimeout must not be negative")
	case cfg.StatementTimeout > 0 && cfg.StatementTimeout < time.Millisecond:
		return nil, errors.New("StatementTimeout must be at least 1ms")
	case cfg.QueryTimeout < 0:
		return nil, errors.New("QueryTimeout must not be negative")
	}
	pcfg, err := pgxpool.ParseConfig(cfg.URL)
	if err != nil {
		// The parse error may quote the URL, password included.
		return nil, errors.New("URL is not a valid PostgreSQL connection string")
	}
	if cfg.MaxConns > 0 {
		pcfg.MaxConns = cfg.MaxConns
	}
	pcfg.ConnConfig.ConnectTimeout = cmp.Or(cfg.ConnectTimeout, DefaultConnectTimeout)
	timeout := cmp.Or(cfg.StatementTimeout, DefaultStatementTimeout)
	pcfg.ConnConfig.RuntimeParams["statement_timeout"] = strconv.FormatInt(timeout.Milliseconds(), 10)
	// Times come back in UTC whatever the server's default zone is.
	pcfg.ConnConfig.RuntimeParams["timezone"] = "UTC"
	if cfg.TracerProvider != nil {
		pcfg.ConnConfig.Tracer = newQueryTracer(cfg.TracerProvider)
	}
	if pcfg.ConnConfig.RuntimeParams["application_name"] == "" {
		pcfg.ConnConfig.RuntimeParams["application_name"] = "tokenserver"
	}
	return pcfg, nil
}

// queryTimeout is cfg's client-side deadline of one call.
func queryTimeout(cfg Config) time.Duration {
	if cfg.QueryTimeout > 0 {
		return cfg.QueryTimeout
	}
	return cmp.Or(cfg.StatementTimeout, DefaultStatementTimeout) + DefaultQueryTimeoutMargin
}

// Close closes every connection of the pool. Watchers end with their ctx.
func (s *Store) Close() { s.pool.Close() }

// PoolStat returns a snapshot of the connection pool's statistics (for the
// pool metrics); cheap enough to call at every scrape.
func (s *Store) PoolStat() *pgxpool.Stat { return s.pool.pool.Stat() }

// Ping checks that the server answers; errors wrap store.ErrUnavailable.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: ping: %w", classify(err))
	}
	return nil
}

var (
	_ store.UserPager     = (*Store)(nil)
	_ store.SessionLister = (*Store)(nil)
	_ store.ClientUpdater = (*Store)(nil)
)
