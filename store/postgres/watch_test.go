package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tokenserver/tokenserver/store"
	"github.com/tokenserver/tokenserver/store/storetest"
)

// watchWait bounds every wait for a notification.
const watchWait = 10 * time.Second

func testKey(id string, now time.Time) store.SigningKey {
	return store.SigningKey{ID: id, Algorithm: "ES256", State: store.KeyCurrent,
		Sealed: []byte("sealed-" + id), PublicJWK: []byte(`{"kid":"` + id + `"}`),
		CreatedAt: now, ActivatesAt: now}
}

func addKey(t *testing.T, s *Store, id string) {
	t.Helper()
	err := s.UpdateKeys(t.Context(), func(keys []store.SigningKey) ([]store.SigningKey, error) {
		return append(keys, testKey(id, time.Now().Truncate(time.Microsecond))), nil
	})
	if err != nil {
		t.Fatalf("UpdateKeys: %v", err)
	}
}

func expectSignal(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case _, ok := <-ch:
		if !ok {
			t.Fatalf("%s: channel closed", what)
		}
	case <-time.After(watchWait):
		t.Fatalf("%s: no signal within %v", what, watchWait)
	}
}

func TestWatchKeysSeesOtherInstance(t *testing.T) {
	dsn := storetest.StartPostgres(t)
	watcher, writer := openTestStore(t, dsn), openTestStore(t, dsn)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	ch, err := watcher.WatchKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}

	addKey(t, writer, "k1")
	expectSignal(t, ch, "after another instance's UpdateKeys")

	addKey(t, writer, "k2")
	expectSignal(t, ch, "after the second change")

	cancel()
	select {
	case _, ok := <-ch:
		if ok {
			// A pending signal is allowed; the close must follow.
			if _, ok := <-ch; ok {
				t.Fatal("channel open after ctx ended")
			}
		}
	case <-time.After(watchWait):
		t.Fatal("channel not closed after ctx ended")
	}
}

func TestUpdateKeysNoopDoesNotNotify(t *testing.T) {
	dsn := storetest.StartPostgres(t)
	s := openTestStore(t, dsn)
	addKey(t, s, "k1")

	// A raw listener counts notifications, which arrive in commit order.
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(t.Context(), "LISTEN "+keysChannel); err != nil {
		t.Fatal(err)
	}
	before := keyRowVersions(t, s)
	if err := s.UpdateKeys(t.Context(), func(k []store.SigningKey) ([]store.SigningKey, error) { return k, nil }); err != nil {
		t.Fatal(err)
	}
	if after := keyRowVersions(t, s); after != before {
		t.Errorf("no-op UpdateKeys rewrote rows: xmin %s → %s", before, after)
	}
	addKey(t, s, "k2") // committed after the no-op: its notification comes last
	ctx, cancel := context.WithTimeout(t.Context(), watchWait)
	defer cancel()
	if _, err := conn.WaitForNotification(ctx); err != nil {
		t.Fatalf("no notification for the real change: %v", err)
	}
	ctx, cancel = context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer cancel()
	if n, err := conn.WaitForNotification(ctx); err == nil {
		t.Errorf("second notification %+v: the no-op update notified", n)
	}
}

// keyRowVersions returns the row versions (xmin) of the signing keys.
func keyRowVersions(t *testing.T, s *Store) string {
	t.Helper()
	var v string
	if err := s.pool.QueryRow(t.Context(),
		`SELECT coalesce(string_agg(xmin::text, ',' ORDER BY id), '') FROM signing_keys`).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestWatchKeysCoalesces(t *testing.T) {
	dsn := storetest.StartPostgres(t)
	watcher, writer := openTestStore(t, dsn), openTestStore(t, dsn)
	ch, err := watcher.WatchKeys(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"k1", "k2", "k3"} {
		addKey(t, writer, id)
	}
	expectSignal(t, ch, "after three changes")
	// Notifications still arriving may leave one more signal pending, but
	// there is never a queue: the channel holds one signal at most, so a
	// burst of changes costs the receiver one re-read. (Asserting on what is
	// pending after a wait would race the notifications' arrival.)
	if c := cap(ch); c != 1 {
		t.Fatalf("signal buffer of %d, want 1 (coalescing)", c)
	}
	for range 3 {
		if n := len(ch); n > 1 {
			t.Fatalf("%d signals queued, want them coalesced", n)
		}
		addKey(t, writer, "more-"+randomHex(t, 4))
	}
}

func TestWatchKeysReconnects(t *testing.T) {
	dsn := storetest.StartPostgres(t)
	watcher, writer := openTestStore(t, dsn), openTestStore(t, dsn)
	watcher.watchBackoffMin, watcher.watchBackoffMax = 10*time.Millisecond, 50*time.Millisecond
	ch, err := watcher.WatchKeys(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if n := terminateBackends(t, writer, "LISTEN "+keysChannel); n != 1 {
		t.Fatalf("terminated %d listening sessions, want 1", n)
	}
	// Changes may have been missed while disconnected: one signal after
	// reconnecting, without any change.
	expectSignal(t, ch, "after reconnecting")

	// And the new connection listens: wait until it is registered.
	deadline := time.Now().Add(watchWait)
	for {
		var listening int
		if err := writer.pool.QueryRow(t.Context(), `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND query = 'LISTEN `+keysChannel+`'`).Scan(&listening); err != nil {
			t.Fatal(err)
		}
		if listening == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no listening session after reconnect")
		}
		time.Sleep(10 * time.Millisecond)
	}
	addKey(t, writer, "k1")
	expectSignal(t, ch, "after a change on the new connection")
}
