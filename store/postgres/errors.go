package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tokenserver/tokenserver/store"
)

// classify maps a pgx error to the store's sentinels, keeping the original
// in the chain for logs:
//   - no rows → store.ErrNotFound;
//   - unique violation → store.ErrConflict;
//   - foreign-key violation → store.ErrNotFound (the referenced record is gone);
//   - anything that says the server is unreachable, overloaded, shutting
//     down or too slow → store.ErrUnavailable.
//
// Callers wrap the result as "postgres: <op>: %w".
func classify(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%w: %w", store.ErrNotFound, err)
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch code := pgErr.Code; {
		case code == "23505": // unique_violation
			return fmt.Errorf("%w: %w", store.ErrConflict, err)
		case code == "23503": // foreign_key_violation
			return fmt.Errorf("%w: %w", store.ErrNotFound, err)
		case code == "57014", // query_canceled: statement_timeout or cancel request
			code == "55P03",                // lock_not_available: lock_timeout
			code == "25006",                // read_only_sql_transaction: a standby after fail-over
			strings.HasPrefix(code, "08"),  // connection exception
			strings.HasPrefix(code, "53"),  // insufficient resources, too many connections
			strings.HasPrefix(code, "57P"): // admin/crash shutdown, cannot connect now
			return fmt.Errorf("%w: %w", store.ErrUnavailable, err)
		}
		return err
	}
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	if errors.As(err, &connectErr) ||
		errors.As(err, &netErr) ||
		pgconn.Timeout(err) ||
		errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) ||
		// A pooled connection the driver closed when the server went away
		// (seen as "conn closed" from a refresh while PostgreSQL stopped).
		errors.Is(err, pgconn.ErrConnClosed) {
		return fmt.Errorf("%w: %w", store.ErrUnavailable, err)
	}
	return err
}

// wrap prefixes a classified error with the operation name.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("postgres: %s: %w", op, classify(err))
}
