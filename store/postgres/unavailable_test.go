package postgres

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tokenserver/tokenserver/store"
	"github.com/tokenserver/tokenserver/store/storetest"
)

// mustBeUnavailable runs op and requires an error wrapping
// store.ErrUnavailable. op gets a context without deadline: a hang would
// show up as the test binary's timeout, not as a pass.
func mustBeUnavailable(t *testing.T, name string, op func(context.Context) error) {
	t.Helper()
	err := op(context.Background())
	if !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("%s: error = %v, want store.ErrUnavailable", name, err)
	}
}

// unreachableOps exercise a read, a write and Ping.
func unreachableOps(t *testing.T, s *Store) {
	t.Helper()
	mustBeUnavailable(t, "Ping", s.Ping)
	mustBeUnavailable(t, "UserByName", func(ctx context.Context) error {
		_, err := s.UserByName(ctx, "alice")
		return err
	})
	mustBeUnavailable(t, "Revoke", func(ctx context.Context) error {
		return s.Revoke(ctx, store.Revocation{Kind: store.RevokeJTI, Value: "j", ExpiresAt: time.Now().Add(time.Hour)})
	})
	mustBeUnavailable(t, "Migrate", s.Migrate)
	mustBeUnavailable(t, "WatchKeys", func(ctx context.Context) error {
		_, err := s.WatchKeys(ctx)
		return err
	})
}

func TestUnreachableServer(t *testing.T) {
	cases := []struct {
		name string
		addr func(t *testing.T) string
	}{
		{"ClosedPort", func(t *testing.T) string {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			addr := l.Addr().String()
			l.Close()
			return addr
		}},
		{"SilentServer", func(t *testing.T) string {
			// Accepts connections and never answers: only the connect
			// timeout ends the attempt.
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { l.Close() })
			go func() {
				for {
					c, err := l.Accept()
					if err != nil {
						return
					}
					t.Cleanup(func() { c.Close() })
				}
			}()
			return l.Addr().String()
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Open(t.Context(), Config{URL: "postgres://postgres@" + tc.addr(t) + "/db?sslmode=disable",
				ConnectTimeout: time.Second})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			unreachableOps(t, s)
		})
	}
}

func TestStoppedServer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a PostgreSQL server of its own")
	}
	srv, dsn := storetest.StartPrivatePostgres(t, storetest.PostgresOptions{}, "stopped")
	s := openTestStore(t, dsn)
	if err := s.Ping(t.Context()); err != nil {
		t.Fatalf("Ping before stop: %v", err)
	}
	srv.Stop()
	unreachableOps(t, s)
}

func TestStatementTimeoutIsUnavailable(t *testing.T) {
	dsn := storetest.StartPostgres(t)
	s := openTestStore(t, dsn)
	slow, err := Open(t.Context(), Config{URL: dsn, StatementTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()

	// Another session holds the revocations table; the upsert waits for it
	// until statement_timeout cancels it.
	tx, err := s.pool.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.Background())
	if _, err := tx.Exec(t.Context(), `LOCK TABLE revocations IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	mustBeUnavailable(t, "Revoke", func(ctx context.Context) error {
		return slow.Revoke(ctx, store.Revocation{Kind: store.RevokeJTI, Value: "j", ExpiresAt: time.Now().Add(time.Hour)})
	})
}

func TestContextDeadlineIsUnavailable(t *testing.T) {
	s := newTestStore(t)
	tx, err := s.pool.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.Background())
	if _, err := tx.Exec(t.Context(), `LOCK TABLE users IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	_, err = s.UserByName(ctx, "alice")
	if !errors.Is(err, store.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("UserByName past deadline: %v, want ErrUnavailable wrapping context.DeadlineExceeded", err)
	}
}

// terminateBackends ends every other session on s's database whose last
// query starts with prefix, as an administrator or a fail-over would.
func terminateBackends(t *testing.T, s *Store, prefix string) int {
	t.Helper()
	rows, err := s.pool.Query(t.Context(), `
		SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		 WHERE datname = current_database() AND pid <> pg_backend_pid() AND query LIKE $1 || '%'`, prefix)
	if err != nil {
		t.Fatal(err)
	}
	n, err := pgx.CollectRows(rows, pgx.RowTo[bool])
	if err != nil {
		t.Fatal(err)
	}
	return len(n)
}
