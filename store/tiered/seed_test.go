package tiered

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/tokenserver/tokenserver/store"
	"github.com/tokenserver/tokenserver/store/postgres"
	redisstore "github.com/tokenserver/tokenserver/store/redis"
	"github.com/tokenserver/tokenserver/store/storetest"
)

// The marker key store/redis documents (ownRedis uses the default prefix).
const markerKey = redisstore.DefaultPrefix + "revgen"

// openPostgres is a migrated PostgreSQL store on a fresh database: the
// durable record.
func openPostgres(t *testing.T) *postgres.Store {
	t.Helper()
	pg, err := postgres.Open(t.Context(), postgres.Config{URL: storetest.StartPostgres(t), ConnectTimeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("postgres.Open: %v", err)
	}
	t.Cleanup(pg.Close)
	if err := pg.Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return pg
}

// ownServer is a redis-server for this test alone (so FLUSHALL disturbs no
// other test), a raw client on it, and a flush function.
type ownServer struct {
	srv *storetest.RedisServer
	raw *goredis.Client
}

func newOwnServer(t *testing.T) (*ownServer, *redisstore.Store) {
	t.Helper()
	srv, cache := ownRedis(t)
	raw := goredis.NewClient(&goredis.Options{Addr: srv.Addr})
	t.Cleanup(func() { _ = raw.Close() })
	return &ownServer{srv: srv, raw: raw}, cache
}

func (o *ownServer) flushAll(t *testing.T) {
	t.Helper()
	if err := o.raw.FlushAll(t.Context()).Err(); err != nil {
		t.Errorf("FLUSHALL: %v", err) // Errorf: also called from hooks on other goroutines
	}
}

// marker is the cache's marker value, "" when absent.
func (o *ownServer) marker(t *testing.T) string {
	t.Helper()
	v, err := o.raw.Get(t.Context(), markerKey).Result()
	if errors.Is(err, goredis.Nil) {
		return ""
	}
	if err != nil {
		t.Errorf("GET %s: %v", markerKey, err)
	}
	return v
}

// markReady seeds cache with nothing, so that its reads answer.
func markReady(t *testing.T, cache *redisstore.Store) {
	t.Helper()
	token, err := cache.BeginSeed(t.Context())
	if err == nil {
		err = cache.CompleteSeed(t.Context(), token)
	}
	if err != nil {
		t.Fatalf("seed: %v", err)
	}
}

// revokeJTIs revokes n jti entries through s and returns them.
func revokeJTIs(t *testing.T, s store.RevocationStore, n int) []store.Revocation {
	t.Helper()
	var rs []store.Revocation
	for i := range n {
		r := revocation(store.RevokeJTI, fmt.Sprintf("jti-%d", i+1))
		if err := s.Revoke(t.Context(), r); err != nil {
			t.Fatalf("Revoke: %v", err)
		}
		rs = append(rs, r)
	}
	return rs
}

// cacheHas reports whether the cache itself answers "revoked" for every r
// (and so is marked ready).
func cacheHas(t *testing.T, cache *redisstore.Store, rs []store.Revocation) {
	t.Helper()
	for _, r := range rs {
		revoked, err := cache.IsRevoked(t.Context(), query(r), time.Now())
		if err != nil || !revoked {
			t.Errorf("cache.IsRevoked(%s %s) = %v, %v; want true, nil", r.Kind, r.Value, revoked, err)
		}
	}
}

func signalled(tiered *Revocations) bool {
	select {
	case <-tiered.ReseedNeeded():
		return true
	default:
		return false
	}
}

// The issue: after FLUSHALL the cache said "not revoked" until the next
// periodic reseed, up to a minute. Now the very next read is answered by
// PostgreSQL and asks for a reseed, which makes the cache answer again.
func TestFlushAnsweredByDurableAtOnce(t *testing.T) {
	own, cache := newOwnServer(t)
	tiered := seeded(t, NewRevocations(openPostgres(t), cache, nil))
	revoked := revokeJTIs(t, tiered, 4)
	cacheHas(t, cache, revoked) // the cache, not the record, was answering
	if signalled(tiered) {
		t.Fatal("ReseedNeeded fired before any loss")
	}

	own.flushAll(t)
	flushed := time.Now()
	for _, r := range revoked {
		if !isRevoked(t, tiered, query(r)) {
			t.Errorf("%s %s not revoked at the first read after FLUSHALL", r.Kind, r.Value)
		}
	}
	fallback := time.Since(flushed)
	if isRevoked(t, tiered, store.RevocationQuery{JTI: "never-revoked"}) {
		t.Error("an unrevoked jti is revoked after FLUSHALL")
	}
	if _, err := cache.Active(t.Context(), time.Now()); !errors.Is(err, store.ErrCacheIncomplete) {
		t.Errorf("cache.Active after FLUSHALL = %v, want ErrCacheIncomplete (never an empty snapshot)", err)
	}
	// Several reads saw the loss; one request waits (coalesced).
	if n := len(tiered.ReseedNeeded()); n != 1 {
		t.Fatalf("%d reseed requests pending after FLUSHALL, want 1", n)
	}

	// What reseedOnResync does on the signal.
	<-tiered.ReseedNeeded()
	if err := tiered.Reseed(t.Context(), time.Now()); err != nil {
		t.Fatalf("Reseed: %v", err)
	}
	reseeded := time.Since(flushed)
	if m := own.marker(t); !strings.HasPrefix(m, "ready:") {
		t.Fatalf("marker after Reseed = %q, want ready", m)
	}
	cacheHas(t, cache, revoked)
	// The cache answers again: an entry only the cache has is seen.
	only := revocation(store.RevokeJTI, "cache-only")
	if err := cache.Revoke(t.Context(), only); err != nil {
		t.Fatal(err)
	}
	if !isRevoked(t, tiered, query(only)) {
		t.Error("tiered store does not trust the reseeded cache")
	}
	if signalled(tiered) {
		t.Error("ReseedNeeded pending after a successful Reseed")
	}
	t.Logf("FLUSHALL → 4 reads answered by PostgreSQL: %v; FLUSHALL → reseed complete: %v", fallback, reseeded)
}

// A flush between a reseed's copy and its CompleteSeed must not leave the
// marker ready over the emptied cache: the reseed copies again, and if the
// cache keeps losing its data it gives up with the marker not ready.
func TestFlushDuringReseed(t *testing.T) {
	for _, tc := range []struct {
		name    string
		flushes int
		wantErr error
	}{
		{"OnceThenCompletes", 1, nil},
		{"EveryAttempt", seedAttempts, store.ErrCacheIncomplete},
	} {
		t.Run(tc.name, func(t *testing.T) {
			own, cache := newOwnServer(t)
			tiered := seeded(t, NewRevocations(openPostgres(t), cache, nil))
			revoked := revokeJTIs(t, tiered, 4)
			own.flushAll(t) // the reseed starts from an emptied cache
			var copies int
			tiered.afterCopy = func() {
				copies++
				if copies > tc.flushes {
					return
				}
				own.flushAll(t)
				// Reads in the window go to PostgreSQL and, this process
				// being mid-reseed, ask for nothing more.
				for _, r := range revoked {
					if !isRevoked(t, tiered, query(r)) {
						t.Errorf("%s %s not revoked during the reseed", r.Kind, r.Value)
					}
				}
			}
			err := tiered.Reseed(t.Context(), time.Now())
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("Reseed = %v, want %v", err, tc.wantErr)
			}
			if want := min(tc.flushes+1, seedAttempts); copies != want {
				t.Errorf("Reseed copied %d times, want %d", copies, want)
			}
			if tc.wantErr != nil {
				if m := own.marker(t); m != "" {
					t.Errorf("marker = %q after every copy was flushed, want absent", m)
				}
				for _, r := range revoked {
					if !isRevoked(t, tiered, query(r)) {
						t.Errorf("%s %s not revoked after a failed reseed", r.Kind, r.Value)
					}
				}
				return
			}
			if m := own.marker(t); !strings.HasPrefix(m, "ready:") {
				t.Errorf("marker = %q, want ready after the second copy", m)
			}
			cacheHas(t, cache, revoked)
			if signalled(tiered) {
				t.Error("reads during the reseed asked for another reseed")
			}
		})
	}
}

// Two processes (two tiered stores, two clients) reseeding one Redis at
// once: never a ready marker over a cache missing an entry.
func TestConcurrentReseeds(t *testing.T) {
	t.Run("Simultaneous", func(t *testing.T) {
		own, cacheA := newOwnServer(t)
		cacheB := openRedis(t, "redis://"+own.srv.Addr, "")
		pg := openPostgres(t)
		logger, logs := newLogger()
		a, b := NewRevocations(pg, cacheA, logger), NewRevocations(pg, cacheB, logger)
		revoked := revokeJTIs(t, a, 4)
		own.flushAll(t)
		// Both copies finish before either completes.
		var barrier sync.WaitGroup
		barrier.Add(2)
		for _, s := range []*Revocations{a, b} {
			s.afterCopy = sync.OnceFunc(func() { barrier.Done(); barrier.Wait() })
		}
		errs := make(chan error, 2)
		for _, s := range []*Revocations{a, b} {
			go func() { errs <- s.Reseed(t.Context(), time.Now()) }()
		}
		for range 2 {
			if err := <-errs; err != nil {
				t.Errorf("Reseed: %v", err)
			}
		}
		if n := logs.count("lost its data during a reseed"); n != 0 {
			t.Errorf("%d reseeds had to copy again; want none (they share one generation)", n)
		}
		if m := own.marker(t); !strings.HasPrefix(m, "ready:") {
			t.Errorf("marker = %q, want ready", m)
		}
		cacheHas(t, cacheA, revoked)
	})

	// A copies; the cache is flushed; B begins a new generation but has
	// not copied yet. A's CompleteSeed must fail (completing would mark an
	// empty cache ready); A copies again within B's generation and then
	// may mark it ready; B's late CompleteSeed finds it ready.
	t.Run("FlushBetween", func(t *testing.T) {
		own, cacheA := newOwnServer(t)
		cacheB := openRedis(t, "redis://"+own.srv.Addr, "")
		logger, logs := newLogger()
		a := seeded(t, NewRevocations(openPostgres(t), cacheA, logger))
		revoked := revokeJTIs(t, a, 4)
		var tokenB, markerAtSecondCopy string
		var calls atomic.Int32
		a.afterCopy = func() {
			switch calls.Add(1) {
			case 1:
				own.flushAll(t)
				var err error
				if tokenB, err = cacheB.BeginSeed(t.Context()); err != nil {
					t.Errorf("B: BeginSeed: %v", err)
				}
			case 2:
				markerAtSecondCopy = own.marker(t)
			}
		}
		if err := a.Reseed(t.Context(), time.Now()); err != nil {
			t.Fatalf("A: Reseed: %v", err)
		}
		if n := logs.count("lost its data during a reseed"); n != 1 {
			t.Errorf("A copied again %d times, want once", n)
		}
		if markerAtSecondCopy != "seeding:"+tokenB {
			t.Errorf("marker during A's second copy = %q, want B's generation seeding", markerAtSecondCopy)
		}
		if m := own.marker(t); m != "ready:"+tokenB {
			t.Errorf("marker = %q, want B's generation ready", m)
		}
		cacheHas(t, cacheA, revoked)
		if err := cacheB.CompleteSeed(t.Context(), tokenB); err != nil {
			t.Errorf("B: CompleteSeed after A completed the generation = %v, want nil", err)
		}
	})
}

// A failed cache write asks for a reseed at once (the process answers from
// the durable record until one succeeds).
func TestCacheWriteFailureRequestsReseed(t *testing.T) {
	own, cache := newOwnServer(t)
	tiered := seeded(t, NewRevocations(openPostgres(t), cache, nil))
	if err := own.srv.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := tiered.Revoke(t.Context(), revocation(store.RevokeJTI, "missed")); err != nil {
		t.Fatalf("Revoke with the cache down = %v", err)
	}
	if !signalled(tiered) {
		t.Error("no reseed requested after a failed cache write")
	}
}

// The reseed loop's probe: a flush nobody read through is noticed by
// CheckCache, which asks for a reseed (once, however often it probes).
func TestCheckCacheRequestsReseed(t *testing.T) {
	own, cache := newOwnServer(t)
	tiered := seeded(t, NewRevocations(openPostgres(t), cache, nil))
	if err := tiered.CheckCache(t.Context()); err != nil || signalled(tiered) {
		t.Fatalf("CheckCache of a seeded cache = %v (signalled: %v), want nil and no signal", err, signalled(tiered))
	}
	own.flushAll(t)
	for range 3 {
		if err := tiered.CheckCache(t.Context()); !errors.Is(err, store.ErrCacheIncomplete) {
			t.Fatalf("CheckCache after FLUSHALL = %v, want ErrCacheIncomplete", err)
		}
	}
	if n := len(tiered.ReseedNeeded()); n != 1 {
		t.Fatalf("%d reseed requests pending, want 1", n)
	}
	if err := tiered.Reseed(t.Context(), time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := tiered.CheckCache(t.Context()); err != nil {
		t.Errorf("CheckCache after Reseed = %v", err)
	}
}
