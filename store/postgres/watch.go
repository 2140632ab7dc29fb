package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// WatchKeys signals on the returned channel after another instance (or this
// one) changes the key set. It holds one dedicated connection, outside the
// pool, that LISTENs on tokenserver_keys; the listener is registered before
// WatchKeys returns, so any change committed afterwards is signalled.
// Signals are coalesced (buffer of one). If the connection breaks, it
// reconnects with exponential backoff and then signals once, because
// changes may have been missed meanwhile. The channel is closed when ctx
// ends. An error (wrapping store.ErrUnavailable when the server is
// unreachable) is returned only if the first connection fails.
func (s *Store) WatchKeys(ctx context.Context) (<-chan struct{}, error) {
	conn, err := s.listen(ctx)
	if err != nil {
		return nil, wrap("watch keys", err)
	}
	ch := make(chan struct{}, 1)
	go s.watch(ctx, conn, ch)
	return ch, nil
}

// listen opens a dedicated connection and subscribes it to keysChannel.
func (s *Store) listen(ctx context.Context) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig.Copy())
	if err != nil {
		return nil, err
	}
	if _, err := conn.Exec(ctx, "LISTEN "+keysChannel); err != nil {
		closeConn(conn)
		return nil, err
	}
	return conn, nil
}

func (s *Store) watch(ctx context.Context, conn *pgx.Conn, ch chan struct{}) {
	defer close(ch)
	signal := func() {
		select {
		case ch <- struct{}{}:
		default: // a signal is already pending: coalesce
		}
	}
	for {
		_, err := conn.WaitForNotification(ctx)
		if err == nil {
			signal()
			continue
		}
		closeConn(conn)
		if conn = s.reconnect(ctx); conn == nil {
			return // ctx ended
		}
		signal()
	}
}

// reconnect retries listen with exponential backoff until it succeeds or
// ctx ends (then it returns nil).
func (s *Store) reconnect(ctx context.Context) *pgx.Conn {
	backoff := s.watchBackoffMin
	for {
		if ctx.Err() != nil {
			return nil
		}
		if conn, err := s.listen(ctx); err == nil {
			return conn
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		backoff = min(2*backoff, s.watchBackoffMax)
	}
}

// closeConn closes a dedicated connection without waiting long for a
// broken server.
func closeConn(conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	conn.Close(ctx)
}
