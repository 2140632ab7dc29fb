package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tokenserver/tokenserver/store"
)

func TestOpenRejectsBadConfig(t *testing.T) {
	const secret = "hunter2-secret"
	cases := []struct {
		name string
		cfg  Config
	}{
		{"EmptyURL", Config{}},
		{"NegativeMaxConns", Config{URL: "postgres://localhost/db", MaxConns: -1}},
		{"NegativeConnectTimeout", Config{URL: "postgres://localhost/db", ConnectTimeout: -time.Second}},
		{"NegativeStatementTimeout", Config{URL: "postgres://localhost/db", StatementTimeout: -time.Second}},
		{"SubMillisecondStatementTimeout", Config{URL: "postgres://localhost/db", StatementTimeout: time.Microsecond}},
		{"NegativeQueryTimeout", Config{URL: "postgres://localhost/db", QueryTimeout: -time.Second}},
		{"UnparsableURL", Config{URL: "postgres://user:" + secret + "@localhost:notaport/db"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Open(t.Context(), tc.cfg)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded, want an error")
			}
			if !strings.HasPrefix(err.Error(), "postgres: open: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error %q leaks the password", err)
			}
		})
	}
}

func TestOpenAppliesConfig(t *testing.T) {
	cfg, err := poolConfig(Config{URL: "postgres://u@localhost/db", MaxConns: 7,
		ConnectTimeout: 3 * time.Second, StatementTimeout: 1500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MaxConns != 7 {
		t.Errorf("MaxConns = %d, want 7", cfg.MaxConns)
	}
	if cfg.ConnConfig.ConnectTimeout != 3*time.Second {
		t.Errorf("ConnectTimeout = %v, want 3s", cfg.ConnConfig.ConnectTimeout)
	}
	if got := cfg.ConnConfig.RuntimeParams["statement_timeout"]; got != "1500" {
		t.Errorf("statement_timeout = %q, want 1500 (ms)", got)
	}

	def, err := poolConfig(Config{URL: "postgres://u@localhost/db"})
	if err != nil {
		t.Fatal(err)
	}
	if def.ConnConfig.ConnectTimeout != DefaultConnectTimeout {
		t.Errorf("default ConnectTimeout = %v", def.ConnConfig.ConnectTimeout)
	}
	if got, want := def.ConnConfig.RuntimeParams["statement_timeout"], fmt.Sprint(DefaultStatementTimeout.Milliseconds()); got != want {
		t.Errorf("default statement_timeout = %q, want %q", got, want)
	}
}

func TestQueryTimeout(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
		want time.Duration
	}{
		{"Explicit", Config{QueryTimeout: 2 * time.Second, StatementTimeout: 5 * time.Second}, 2 * time.Second},
		{"FromStatementTimeout", Config{StatementTimeout: 5 * time.Second}, 5*time.Second + DefaultQueryTimeoutMargin},
		{"Defaults", Config{}, DefaultStatementTimeout + DefaultQueryTimeoutMargin},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.URL = "postgres://u@localhost/db"
			s, err := Open(t.Context(), tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if s.pool.timeout != tc.want {
				t.Errorf("per-call timeout = %v, want %v", s.pool.timeout, tc.want)
			}
		})
	}
}

func TestClassify(t *testing.T) {
	cases := []struct {
		name string
		err  error
		want error // nil: no sentinel
	}{
		{"NoRows", pgx.ErrNoRows, store.ErrNotFound},
		{"UniqueViolation", &pgconn.PgError{Code: "23505"}, store.ErrConflict},
		{"ForeignKeyViolation", &pgconn.PgError{Code: "23503"}, store.ErrNotFound},
		{"StatementTimeout", &pgconn.PgError{Code: "57014"}, store.ErrUnavailable},
		{"LockTimeout", &pgconn.PgError{Code: "55P03"}, store.ErrUnavailable},
		{"ConnectionFailure", &pgconn.PgError{Code: "08006"}, store.ErrUnavailable},
		{"TooManyConnections", &pgconn.PgError{Code: "53300"}, store.ErrUnavailable},
		{"AdminShutdown", &pgconn.PgError{Code: "57P01"}, store.ErrUnavailable},
		{"ReadOnlyStandby", &pgconn.PgError{Code: "25006"}, store.ErrUnavailable},
		{"DeadlineExceeded", fmt.Errorf("query: %w", context.DeadlineExceeded), store.ErrUnavailable},
		{"NetError", &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}, store.ErrUnavailable},
		{"UnexpectedEOF", fmt.Errorf("read: %w", io.ErrUnexpectedEOF), store.ErrUnavailable},
		{"ConnClosed", fmt.Errorf("rotate: %w", pgconn.ErrConnClosed), store.ErrUnavailable},
		{"SyntaxError", &pgconn.PgError{Code: "42601"}, nil},
		{"CheckViolation", &pgconn.PgError{Code: "23514"}, nil},
		{"Canceled", context.Canceled, nil},
	}
	sentinels := []error{store.ErrNotFound, store.ErrConflict, store.ErrUnavailable}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := wrap("op", tc.err)
			if !errors.Is(got, tc.err) {
				t.Errorf("%v: original error lost", got)
			}
			for _, s := range sentinels {
				if errors.Is(got, s) != (s == tc.want) {
					t.Errorf("errors.Is(%v, %v) = %v", got, s, !(s == tc.want))
				}
			}
			if !strings.HasPrefix(got.Error(), "postgres: op: ") {
				t.Errorf("%q lacks the prefix", got)
			}
		})
	}
	if wrap("op", nil) != nil {
		t.Error("wrap(nil) != nil")
	}
}
