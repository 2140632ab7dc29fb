package storetest

import (
	"os"
	"sync"
	"testing"

	"github.com/tokenserver/tokenserver/internal/testservers"
)

// PostgresOptions configures StartPostgresServer.
type PostgresOptions = testservers.PostgresOptions

// PostgresServer is a PostgreSQL server this process started (or, with
// ConnectPostgresServer, an existing one) on which it creates throwaway
// databases; see internal/testservers.
type PostgresServer = testservers.PostgresServer

// StartPostgresServer initialises a throwaway cluster and starts PostgreSQL
// on a free loopback port. Call Stop to shut it down.
func StartPostgresServer(opts PostgresOptions) (*PostgresServer, error) {
	return testservers.StartPostgresServer(opts)
}

// ConnectPostgresServer wraps an existing server reachable at adminURL.
func ConnectPostgresServer(adminURL string) (*PostgresServer, error) {
	return testservers.ConnectPostgresServer(adminURL)
}

// The server shared by every StartPostgres call of this test binary.
var sharedPostgres struct {
	mu      sync.Mutex
	started bool
	srv     *PostgresServer
	err     error
}

// StartPostgres returns the DSN of a fresh, empty database on a PostgreSQL
// server started once per test binary and stopped by Main. When
// TEST_DATABASE_URL is set, the database is created on that server instead
// (and dropped when the test ends). If the server binaries are missing, the
// test is skipped (failed on CI); if the server cannot start, every caller
// fails with the same error.
func StartPostgres(t testing.TB) string {
	t.Helper()
	srv, err := sharedPostgresServer()
	if err != nil {
		skipOrFail(t, err, "postgresql")
	}
	name := srv.NextDatabaseName()
	dsn, err := srv.CreateDatabase(name)
	if err != nil {
		t.Fatal(err)
	}
	if srv.External() {
		t.Cleanup(func() {
			if err := srv.DropDatabase(name); err != nil {
				t.Errorf("storetest: %v", err)
			}
		})
	}
	return dsn
}

func sharedPostgresServer() (*PostgresServer, error) {
	sharedPostgres.mu.Lock()
	defer sharedPostgres.mu.Unlock()
	if !sharedPostgres.started {
		sharedPostgres.started = true
		if u := os.Getenv("TEST_DATABASE_URL"); u != "" {
			sharedPostgres.srv, sharedPostgres.err = ConnectPostgresServer(u)
		} else {
			sharedPostgres.srv, sharedPostgres.err = StartPostgresServer(PostgresOptions{})
			if sharedPostgres.err == nil {
				registerStop(sharedPostgres.srv.Stop)
			}
		}
	}
	return sharedPostgres.srv, sharedPostgres.err
}

// StartPrivatePostgres starts a PostgreSQL server for this test alone (one
// it may stop, freeze or kill without disturbing others), creates database
// name on it and returns both; the server stops at the end of the test.
// Missing binaries skip the test (fail it on CI), like StartPostgres.
func StartPrivatePostgres(t testing.TB, opts PostgresOptions, name string) (*PostgresServer, string) {
	t.Helper()
	srv, err := StartPostgresServer(opts)
	if err != nil {
		skipOrFail(t, err, "postgresql")
	}
	t.Cleanup(srv.Stop)
	dsn, err := srv.CreateDatabase(name)
	if err != nil {
		t.Fatal(err)
	}
	return srv, dsn
}
