package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// db is the pool with a client-side deadline on every call. The server's
// statement_timeout cannot end a query on a server that is frozen (SIGSTOP,
// a VM paused, a hung storage layer) or behind a network that silently drops
// packets: TCP stays up and the client would wait for ever. So every call
// here (waiting for a pooled connection, dialling a new one, the round
// trips, reading the rows) runs under context.WithTimeout(ctx, timeout);
// when it fires, pgx's context watcher sets a past deadline on the socket,
// the read fails, the connection is closed, and the error wraps
// context.DeadlineExceeded, which classify maps to store.ErrUnavailable.
//
// The deadline is per call, not per store method: a Purge of many batches
// gives each batch its own, and inside a transaction every statement,
// Commit and Rollback gets its own. On a server that stops answering the
// first one to time out closes the connection, so the rest fail at once.
//
// db has the method names of *pgxpool.Pool, so the store's methods read as
// plain pgx code and need no deadline handling of their own.
type db struct {
	pool    *pgxpool.Pool
	timeout time.Duration
}

func (d *db) deadline(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, d.timeout)
}

// Config returns the pool's configuration (Migrate and WatchKeys copy its
// connection settings for their own connections).
func (d *db) Config() *pgxpool.Config { return d.pool.Config() }

// Close closes every connection of the pool.
func (d *db) Close() { d.pool.Close() }

// Ping acquires a connection and checks that the server answers.
func (d *db) Ping(ctx context.Context) error {
	ctx, cancel := d.deadline(ctx)
	defer cancel()
	return d.pool.Ping(ctx)
}

// Exec runs sql on a pooled connection.
func (d *db) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	ctx, cancel := d.deadline(ctx)
	defer cancel()
	return d.pool.Exec(ctx, sql, args...)
}

// Query runs sql; the deadline covers reading the rows and ends when they
// are closed (by Close or by Next returning false).
func (d *db) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	ctx, cancel := d.deadline(ctx)
	rows, err := d.pool.Query(ctx, sql, args...)
	if err != nil {
		cancel()
		return rows, err
	}
	return &deadlineRows{Rows: rows, cancel: cancel}, nil
}

// QueryRow runs sql; the deadline covers Scan and ends with it.
func (d *db) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	ctx, cancel := d.deadline(ctx)
	return deadlineRow{row: d.pool.QueryRow(ctx, sql, args...), cancel: cancel}
}

// Begin starts a transaction whose every statement has its own deadline.
// Use it through pgx.BeginFunc.
func (d *db) Begin(ctx context.Context) (pgx.Tx, error) {
	bctx, cancel := d.deadline(ctx)
	defer cancel()
	tx, err := d.pool.Begin(bctx)
	if err != nil {
		return nil, err
	}
	return &deadlineTx{Tx: tx, db: d}, nil
}

// deadlineRows ends its call's deadline once the rows are done with.
type deadlineRows struct {
	pgx.Rows
	cancel context.CancelFunc
}

func (r *deadlineRows) Next() bool {
	if r.Rows.Next() {
		return true
	}
	r.cancel() // Next has closed the rows
	return false
}

func (r *deadlineRows) Close() {
	r.Rows.Close()
	r.cancel()
}

// deadlineRow ends its call's deadline after Scan.
type deadlineRow struct {
	row    pgx.Row
	cancel context.CancelFunc
}

func (r deadlineRow) Scan(dest ...any) error {
	defer r.cancel()
	return r.row.Scan(dest...)
}

// deadlineTx gives every call of a transaction its own deadline.
type deadlineTx struct {
	pgx.Tx
	db *db
}

func (t *deadlineTx) Begin(ctx context.Context) (pgx.Tx, error) {
	ctx, cancel := t.db.deadline(ctx)
	defer cancel()
	tx, err := t.Tx.Begin(ctx)
	if err != nil {
		return nil, err
	}
	return &deadlineTx{Tx: tx, db: t.db}, nil
}

func (t *deadlineTx) Commit(ctx context.Context) error {
	ctx, cancel := t.db.deadline(ctx)
	defer cancel()
	return t.Tx.Commit(ctx)
}

func (t *deadlineTx) Rollback(ctx context.Context) error {
	ctx, cancel := t.db.deadline(ctx)
	defer cancel()
	return t.Tx.Rollback(ctx)
}

func (t *deadlineTx) CopyFrom(ctx context.Context, table pgx.Identifier, columns []string, src pgx.CopyFromSource) (int64, error) {
	ctx, cancel := t.db.deadline(ctx)
	defer cancel()
	return t.Tx.CopyFrom(ctx, table, columns, src)
}

func (t *deadlineTx) Prepare(ctx context.Context, name, sql string) (*pgconn.StatementDescription, error) {
	ctx, cancel := t.db.deadline(ctx)
	defer cancel()
	return t.Tx.Prepare(ctx, name, sql)
}

func (t *deadlineTx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	ctx, cancel := t.db.deadline(ctx)
	defer cancel()
	return t.Tx.Exec(ctx, sql, args...)
}

func (t *deadlineTx) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	ctx, cancel := t.db.deadline(ctx)
	rows, err := t.Tx.Query(ctx, sql, args...)
	if err != nil {
		cancel()
		return rows, err
	}
	return &deadlineRows{Rows: rows, cancel: cancel}, nil
}

func (t *deadlineTx) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	ctx, cancel := t.db.deadline(ctx)
	return deadlineRow{row: t.Tx.QueryRow(ctx, sql, args...), cancel: cancel}
}

// SendBatch's deadline covers reading the results and ends with Close.
func (t *deadlineTx) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	ctx, cancel := t.db.deadline(ctx)
	return &deadlineBatch{BatchResults: t.Tx.SendBatch(ctx, b), cancel: cancel}
}

type deadlineBatch struct {
	pgx.BatchResults
	cancel context.CancelFunc
}

func (b *deadlineBatch) Close() error {
	defer b.cancel()
	return b.BatchResults.Close()
}
