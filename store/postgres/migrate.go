package postgres

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"log/slog"

	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migrationTable records applied migrations; its own name keeps it apart
// from other applications' goose tables in a shared database.
const migrationTable = "tokenserver_schema_migrations"

// Migrate applies every pending migration embedded under migrations/, each
// in its own transaction. A session-level advisory lock (goose's Postgres
// session locker) makes concurrent calls from several instances safe: one
// applies the migrations, the others wait for it and then find nothing to
// do. Migrations run on their own short-lived connection without the
// pool's statement_timeout, so a long index build is bounded by ctx only.
func (s *Store) Migrate(ctx context.Context) error {
	migrations, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	connConfig := s.pool.Config().ConnConfig.Copy()
	delete(connConfig.RuntimeParams, "statement_timeout")
	db := stdlib.OpenDB(*connConfig)
	defer db.Close()

	// Poll for the lock every second (goose's default is every 5s) for at
	// most ten minutes.
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockTimeout(1, 600))
	if err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	provider, err := goose.NewProvider(goose.DialectPostgres, db, migrations,
		goose.WithSessionLocker(locker),
		goose.WithTableName(migrationTable),
		goose.WithDisableGlobalRegistry(true),
		goose.WithSlog(slog.New(slog.DiscardHandler)),
	)
	if err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	if _, err := provider.Up(ctx); err != nil {
		return wrap("migrate", err)
	}
	return nil
}
