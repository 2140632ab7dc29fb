package postgres

import (
	"context"
	"errors"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/tokenserver/tokenserver/store"
	"github.com/tokenserver/tokenserver/store/storetest"
)

// hangGuard is how long a call may take before the test calls it hung. It
// is a hang detector, not a latency target: the per-call deadline under
// test is a few seconds.
const hangGuard = 30 * time.Second

// freezeTimeout is QueryTimeout and ConnectTimeout of the stores under
// test: long enough that a call on a live server never hits it even on a
// loaded machine, short enough to keep the tests quick.
const freezeTimeout = 3 * time.Second

// openFreezeStore opens a store on dsn with a two-connection pool, so that
// calls on a frozen server also wait for a connection, and migrates it.
func openFreezeStore(t *testing.T, dsn string) *Store {
	t.Helper()
	s, err := Open(t.Context(), Config{URL: dsn, MaxConns: 2, ConnectTimeout: freezeTimeout, QueryTimeout: freezeTimeout})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return s
}

type storeOp struct {
	name string
	op   func(context.Context) error
}

// everyOp calls every method of the store (Migrate aside, which is bounded
// by its caller's context only), each written to succeed on a working
// server however often it runs: fresh IDs for writes, and the expected
// "not found"/"conflict" outcomes of probes mapped to nil.
func everyOp(t *testing.T, s *Store) []storeOp {
	fx := newRotateFixture(t, s)
	family, hash := fx.newFamily(t)
	now := fx.now
	expect := func(err, want error) error {
		if errors.Is(err, want) {
			return nil
		}
		if err == nil {
			return errors.New("succeeded, want " + want.Error())
		}
		return err
	}
	return []storeOp{
		{"Ping", s.Ping},
		{"CreateUser", func(ctx context.Context) error {
			return s.CreateUser(ctx, store.User{ID: uuid(t), Username: "u-" + randomHex(t, 6), PasswordHash: "h",
				CreatedAt: now, UpdatedAt: now})
		}},
		{"UserByName", func(ctx context.Context) error { _, err := s.UserByName(ctx, family.Username); return err }},
		{"UserByID", func(ctx context.Context) error { _, err := s.UserByID(ctx, family.UserID); return err }},
		{"ListUsers", func(ctx context.Context) error { _, err := s.ListUsers(ctx); return err }},
		{"UpgradePasswordHash", func(ctx context.Context) error {
			return expect(s.UpgradePasswordHash(ctx, family.UserID, "not-the-hash", "new"), store.ErrConflict)
		}},
		{"SetPassword", func(ctx context.Context) error { return s.SetPassword(ctx, family.UserID, "$argon2id$x", now) }},
		{"SetDisabled", func(ctx context.Context) error { return s.SetDisabled(ctx, family.UserID, false, now) }},
		{"DeleteUser", func(ctx context.Context) error { return expect(s.DeleteUser(ctx, uuid(t)), store.ErrNotFound) }},
		{"CreateClient", func(ctx context.Context) error {
			return s.CreateClient(ctx, store.Client{ID: "c-" + randomHex(t, 6), CreatedAt: now})
		}},
		{"ClientByID", func(ctx context.Context) error { _, err := s.ClientByID(ctx, fx.client); return err }},
		{"ListClients", func(ctx context.Context) error { _, err := s.ListClients(ctx); return err }},
		{"DeleteClient", func(ctx context.Context) error {
			return expect(s.DeleteClient(ctx, "c-"+randomHex(t, 6)), store.ErrNotFound)
		}},
		{"CreateFamily", func(ctx context.Context) error {
			f := family
			f.ID = randomHex(t, 16)
			err := s.CreateFamily(ctx, f, store.RefreshToken{Hash: tokenHash(t), IssuedAt: now, IdleExpiresAt: now.Add(time.Hour)})
			// SetPassword and SetDisabled run alongside and move the
			// user's credential epoch: a refusal is an answer too.
			if errors.Is(err, store.ErrRevoked) {
				return nil
			}
			return err
		}},
		// An unknown token runs the one-statement fast path and then the
		// transaction of the slow path.
		{"Rotate", func(ctx context.Context) error {
			_, err := s.Rotate(ctx, fx.request(t, tokenHash(t)))
			return expect(err, store.ErrNotFound)
		}},
		{"Lookup", func(ctx context.Context) error { _, _, err := s.Lookup(ctx, hash); return err }},
		{"RevokeFamily", func(ctx context.Context) error { return s.RevokeFamily(ctx, family.ID, now) }},
		{"RevokeUserFamilies", func(ctx context.Context) error {
			_, err := s.RevokeUserFamilies(ctx, family.UserID, now)
			return err
		}},
		{"Revoke", func(ctx context.Context) error {
			return s.Revoke(ctx, store.Revocation{Kind: store.RevokeJTI, Value: randomHex(t, 8),
				ExpiresAt: now.Add(time.Hour), CreatedAt: now})
		}},
		{"IsRevoked", func(ctx context.Context) error {
			_, err := s.IsRevoked(ctx, store.RevocationQuery{JTI: "j", Sub: family.UserID, IssuedAt: now}, now)
			return err
		}},
		{"Active", func(ctx context.Context) error { _, err := s.Active(ctx, now); return err }},
		{"RevocationHead", func(ctx context.Context) error { _, err := s.RevocationHead(ctx); return err }},
		{"RevocationsAfter", func(ctx context.Context) error { _, _, err := s.RevocationsAfter(ctx, 0, 10); return err }},
		{"RecordAccessTTL", func(ctx context.Context) error { return s.RecordAccessTTL(ctx, time.Minute, now) }},
		{"LongestAccessTTL", func(ctx context.Context) error { _, err := s.LongestAccessTTL(ctx, now); return err }},
		{"Keys", func(ctx context.Context) error { _, err := s.Keys(ctx); return err }},
		// Adding a key runs the advisory lock, a read, a DELETE and a batch.
		{"UpdateKeys", func(ctx context.Context) error {
			id := "k-" + randomHex(t, 6)
			return s.UpdateKeys(ctx, func(keys []store.SigningKey) ([]store.SigningKey, error) {
				return append(keys, testKey(id, time.Now().Truncate(time.Microsecond))), nil
			})
		}},
		{"Purge", func(ctx context.Context) error { _, err := s.Purge(ctx, now.Add(-time.Hour)); return err }},
		{"WatchKeys", func(ctx context.Context) error {
			ctx, cancel := context.WithCancel(ctx)
			defer cancel()
			_, err := s.WatchKeys(ctx)
			return err
		}},
	}
}

// runOps runs every op at once (so they also queue for the pool's
// connections) and returns each one's error and the longest call. A call
// still running after hangGuard fails the test.
func runOps(t *testing.T, ops []storeOp) (map[string]error, time.Duration) {
	t.Helper()
	type result struct {
		name    string
		err     error
		elapsed time.Duration
	}
	results := make(chan result, len(ops))
	var wg sync.WaitGroup
	for _, o := range ops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			err := o.op(context.Background()) // no deadline but the store's own
			results <- result{o.name, err, time.Since(start)}
		}()
	}
	errs := map[string]error{}
	var longest time.Duration
	guard := time.After(hangGuard)
	for range ops {
		select {
		case r := <-results:
			errs[r.name] = r.err
			longest = max(longest, r.elapsed)
		case <-guard:
			for _, o := range ops {
				if _, ok := errs[o.name]; !ok {
					t.Errorf("%s: still running after %v", o.name, hangGuard)
				}
			}
			t.FailNow()
		}
	}
	wg.Wait()
	return errs, longest
}

// checkFrozenAndThawed requires every op to fail with ErrUnavailable while
// frozen, and to work again after thaw.
func checkFrozenAndThawed(t *testing.T, s *Store, freeze, thaw func()) {
	ops := everyOp(t, s)
	if errs, _ := runOps(t, ops); len(errs) != len(ops) || firstErr(errs) != nil {
		t.Fatalf("before freeze: %v", firstErr(errs))
	}
	freeze()
	// A hung call fails the test at once (runtime.Goexit); thawing then
	// lets it return, so the store's Close does not wait for it for ever.
	var thawOnce sync.Once
	defer thawOnce.Do(thaw)
	errs, longest := runOps(t, ops)
	thawOnce.Do(thaw)
	for _, o := range ops {
		if err := errs[o.name]; !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("%s while frozen: %v, want store.ErrUnavailable", o.name, err)
		}
	}
	t.Logf("longest call while frozen: %v (QueryTimeout %v)", longest, freezeTimeout)

	errs, _ = runOps(t, ops)
	for _, o := range ops {
		if err := errs[o.name]; err != nil {
			t.Errorf("%s after thaw: %v", o.name, err)
		}
	}
}

func firstErr(errs map[string]error) error {
	for name, err := range errs {
		if err != nil {
			return errors.New(name + ": " + err.Error())
		}
	}
	return nil
}

// proxiedDSN points dsn at addr.
func proxiedDSN(t *testing.T, dsn, addr string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = addr
	return u.String()
}

func startProxy(t *testing.T, dsn string) *storetest.BlackholeProxy {
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	p, err := storetest.StartBlackholeProxy(u.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// A network that drops every packet without closing anything: only the
// client-side deadline ends a call.
func TestBlackholedServerIsUnavailable(t *testing.T) {
	dsn := storetest.StartPostgres(t)
	proxy := startProxy(t, dsn)
	s := openFreezeStore(t, proxiedDSN(t, dsn, proxy.Addr))
	checkFrozenAndThawed(t, s, proxy.Freeze, proxy.Thaw)
}

// A cluster whose every process is stopped (SIGSTOP): the kernel keeps the
// connections and even accepts new ones, and statement_timeout cannot fire.
func TestFrozenServerIsUnavailable(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a PostgreSQL server of its own")
	}
	srv, dsn := storetest.StartPrivatePostgres(t, storetest.PostgresOptions{}, "frozen")
	s := openFreezeStore(t, dsn)
	checkFrozenAndThawed(t, s, func() {
		if err := srv.Freeze(); err != nil {
			srv.Thaw() // a part may have been stopped
			t.Fatal(err)
		}
	}, func() {
		if err := srv.Thaw(); err != nil {
			t.Error(err)
		}
	})
}

// The key watcher's connection waits for notifications without a deadline;
// when it goes silent because the network black-holes it, the periodic
// check notices, and it reconnects (signalling once) after the thaw.
func TestWatchKeysNoticesBlackhole(t *testing.T) {
	dsn := storetest.StartPostgres(t)
	proxy := startProxy(t, dsn)
	watcher := openFreezeStore(t, proxiedDSN(t, dsn, proxy.Addr))
	watcher.watchPingInterval = 100 * time.Millisecond
	watcher.watchBackoffMin, watcher.watchBackoffMax = 10*time.Millisecond, 50*time.Millisecond
	writer := openTestStore(t, dsn)
	ch, err := watcher.WatchKeys(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	dialled := proxy.Accepted()
	proxy.Freeze()
	// The watcher gave up on its connection once it dials again.
	deadline := time.Now().Add(hangGuard)
	for proxy.Accepted() == dialled {
		if time.Now().After(deadline) {
			t.Fatalf("the watcher did not notice the black hole within %v", hangGuard)
		}
		time.Sleep(10 * time.Millisecond)
	}
	proxy.Thaw()
	expectSignal(t, ch, "after reconnecting")
	addKey(t, writer, "k1")
	expectSignal(t, ch, "after a change on the new connection")
}
