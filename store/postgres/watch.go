package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// WatchKeys signals on the returned channel after another instance (or this
// one) changes the key set. It holds one dedicated connection, outside the
// pool, that LISTENs on tokenserver_keys; the listener is registered before
// WatchKeys returns, so any change committed afterwards is signalled.
// Signals are coalesced (buffer of one). If the connection breaks, it
// reconnects with exponential backoff and then signals once, because
// changes may have been missed meanwhile; a connection that stays silent is
// checked every watchPingInterval, so a frozen server or a black-holed
// network is noticed too. The channel is closed when ctx ends. An error
// (wrapping store.ErrUnavailable when the server is unreachable) is
// returned only if the first connection fails.
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
	// Connecting is bounded by the connect timeout; LISTEN gets the
	// per-call deadline, so a server that froze meanwhile cannot hold
	// WatchKeys (or a reconnect) for ever.
	lctx, cancel := context.WithTimeout(ctx, s.pool.timeout)
	defer cancel()
	if _, err := conn.Exec(lctx, "LISTEN "+keysChannel); err != nil {
		closeConn(conn)
		return nil, err
	}
	return conn, nil
}

// alive checks the listening connection with a round trip bounded by the
// per-call deadline.
func (s *Store) alive(ctx context.Context, conn *pgx.Conn) bool {
	ctx, cancel := context.WithTimeout(ctx, s.pool.timeout)
	defer cancel()
	return conn.Ping(ctx) == nil
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
		// Waiting for a notification has no deadline of its own (silence is
		// normal), but a frozen server or a network dropping packets would
		// be silent for ever: after watchPingInterval without traffic, a
		// PING within the per-call deadline tells a quiet connection from a
		// dead one. A timed-out wait leaves the connection usable.
		wctx, cancel := context.WithTimeout(ctx, s.watchPingInterval)
		_, err := conn.WaitForNotification(wctx)
		cancel()
		if err == nil {
			signal()
			continue
		}
		if ctx.Err() == nil && pgconn.Timeout(err) && !conn.IsClosed() && s.alive(ctx, conn) {
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
