package tiered

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokenserver/tokenserver/store"
	"github.com/tokenserver/tokenserver/store/memory"
	redisstore "github.com/tokenserver/tokenserver/store/redis"
	"github.com/tokenserver/tokenserver/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

// openRedis opens the Redis store at url (prefix may be empty for a
// dedicated server), closed when the test ends.
func openRedis(t *testing.T, url, prefix string) *redisstore.Store {
	t.Helper()
	s, err := redisstore.Open(t.Context(), redisstore.Config{URL: url, Prefix: prefix})
	if err != nil {
		t.Fatalf("redis.Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// sharedRedis is the test binary's redis-server with a fresh prefix.
func sharedRedis(t *testing.T) *redisstore.Store {
	t.Helper()
	target := storetest.StartRedis(t)
	return openRedis(t, target.URL(), target.Prefix)
}

// ownRedis starts a redis-server for this test alone, so it can be stopped
// and started without disturbing other tests.
func ownRedis(t *testing.T) (*storetest.RedisServer, *redisstore.Store) {
	t.Helper()
	storetest.StartRedis(t) // skips (or fails on CI) without redis-server
	srv, err := storetest.StartRedisServer()
	if err != nil {
		t.Fatalf("StartRedisServer: %v", err)
	}
	t.Cleanup(func() { _ = srv.Stop() })
	return srv, openRedis(t, "redis://"+srv.Addr, "")
}

// unreachableRedis is a Redis store whose port nothing listens on.
func unreachableRedis(t *testing.T) *redisstore.Store {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return openRedis(t, "redis://"+addr, "")
}

// logBuffer collects log output; safe for concurrent use.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) count(substr string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Count(b.buf.String(), substr)
}

func newLogger() (*slog.Logger, *logBuffer) {
	buf := &logBuffer{}
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

// revocationStub injects errors; nil fields panic if called.
type revocationStub struct {
	revoke    func(context.Context, store.Revocation) error
	isRevoked func(context.Context, store.RevocationQuery, time.Time) (bool, error)
	active    func(context.Context, time.Time) ([]store.Revocation, error)
}

func (s revocationStub) Revoke(ctx context.Context, r store.Revocation) error {
	return s.revoke(ctx, r)
}
func (s revocationStub) IsRevoked(ctx context.Context, q store.RevocationQuery, now time.Time) (bool, error) {
	return s.isRevoked(ctx, q, now)
}
func (s revocationStub) Active(ctx context.Context, now time.Time) ([]store.Revocation, error) {
	return s.active(ctx, now)
}

var errDurableDown = errors.New("durable store down")

// failingDurable fails every call like an unreachable database.
func failingDurable() revocationStub {
	err := errors.Join(errDurableDown, store.ErrUnavailable)
	return revocationStub{
		revoke:    func(context.Context, store.Revocation) error { return err },
		isRevoked: func(context.Context, store.RevocationQuery, time.Time) (bool, error) { return false, err },
		active:    func(context.Context, time.Time) ([]store.Revocation, error) { return nil, err },
	}
}

func revocation(kind store.RevocationKind, value string) store.Revocation {
	now := time.Now()
	r := store.Revocation{Kind: kind, Value: value, ExpiresAt: now.Add(time.Hour), CreatedAt: now}
	if kind == store.RevokeSub {
		r.NotBefore = now.Truncate(time.Second)
	}
	return r
}

// query matches r (a token issued a minute ago for a sub entry).
func query(r store.Revocation) store.RevocationQuery {
	q := store.RevocationQuery{IssuedAt: time.Now().Add(-time.Minute).Truncate(time.Second)}
	switch r.Kind {
	case store.RevokeJTI:
		q.JTI = r.Value
	case store.RevokeSID:
		q.SID = r.Value
	case store.RevokeSub:
		q.Sub = r.Value
	}
	return q
}

func isRevoked(t *testing.T, s store.RevocationStore, q store.RevocationQuery) bool {
	t.Helper()
	revoked, err := s.IsRevoked(t.Context(), q, time.Now())
	if err != nil {
		t.Fatalf("IsRevoked(%+v): %v", q, err)
	}
	return revoked
}

// The tiered store over real Redis and memory is itself a conforming
// RevocationStore.
func TestRevocationsConformance(t *testing.T) {
	storetest.TestRevocationStore(t, func(t *testing.T) store.RevocationStore {
		return seeded(t, NewRevocations(memory.New(time.Now), sharedRedis(t), nil))
	})
}

// seeded reseeds tiered so that its cache answers.
func seeded(t *testing.T, tiered *Revocations) *Revocations {
	t.Helper()
	if err := tiered.Reseed(t.Context(), time.Now()); err != nil {
		t.Fatalf("Reseed: %v", err)
	}
	return tiered
}

// Until the first Reseed the cache may be empty (a new Redis), so the
// durable record answers; after it, the cache does.
func TestCacheTrustedOnlyAfterReseed(t *testing.T) {
	durable, cache := memory.New(time.Now), sharedRedis(t)
	inDurable := revocation(store.RevokeSub, "sub-durable")
	if err := durable.Revoke(t.Context(), inDurable); err != nil {
		t.Fatal(err)
	}
	inCacheOnly := revocation(store.RevokeJTI, "jti-cache-only")
	if err := cache.Revoke(t.Context(), inCacheOnly); err != nil {
		t.Fatal(err)
	}
	tiered := NewRevocations(durable, cache, nil)
	if !isRevoked(t, tiered, query(inDurable)) {
		t.Error("before Reseed: durable entry not revoked (answered from an unseeded cache)")
	}
	if isRevoked(t, tiered, query(inCacheOnly)) {
		t.Error("before Reseed: the cache answered")
	}
	seeded(t, tiered)
	if !isRevoked(t, tiered, query(inDurable)) || !isRevoked(t, tiered, query(inCacheOnly)) {
		t.Error("after Reseed: the cache does not answer")
	}
}

// A Reseed that fails (Redis came back empty but is not writable yet, or
// went down again) leaves the durable record answering until one succeeds.
func TestReseedFailureKeepsDurable(t *testing.T) {
	srv, cache := ownRedis(t)
	tiered := seeded(t, NewRevocations(memory.New(time.Now), cache, nil))
	r := revocation(store.RevokeSID, "sid-1")
	if err := tiered.Revoke(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := tiered.Reseed(t.Context(), time.Now()); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Reseed with Redis down = %v, want ErrUnavailable", err)
	}
	if err := srv.Restart(); err != nil { // back, and empty
		t.Fatal(err)
	}
	if !isRevoked(t, tiered, query(r)) {
		t.Error("revocation lost: the empty cache answered after a failed Reseed")
	}
	seeded(t, tiered)
	if !isRevoked(t, cache, query(r)) {
		t.Error("cache lacks the entry after a successful Reseed")
	}
}

// A flushed cache (FLUSHALL, a failover to an empty replica) knows nothing;
// Reseed restores it from the durable record.
func TestReseedAfterFlush(t *testing.T) {
	durable, cache := memory.New(time.Now), sharedRedis(t)
	tiered := seeded(t, NewRevocations(durable, cache, nil))
	entries := []store.Revocation{
		revocation(store.RevokeJTI, "jti-1"),
		revocation(store.RevokeSID, "sid-1"),
		revocation(store.RevokeSub, "sub-1"),
	}
	for _, r := range entries {
		if err := tiered.Revoke(t.Context(), r); err != nil {
			t.Fatalf("Revoke: %v", err)
		}
	}
	storetest.FlushRedis(t)
	for _, r := range entries {
		if _, err := cache.IsRevoked(t.Context(), query(r), time.Now()); !errors.Is(err, store.ErrCacheIncomplete) {
			t.Fatalf("cache.IsRevoked(%s %s) after FLUSHALL = %v, want ErrCacheIncomplete", r.Kind, r.Value, err)
		}
	}
	if err := tiered.Reseed(t.Context(), time.Now()); err != nil {
		t.Fatalf("Reseed: %v", err)
	}
	for _, r := range entries {
		if !isRevoked(t, cache, query(r)) {
			t.Errorf("cache lacks %s %s after Reseed", r.Kind, r.Value)
		}
		if !isRevoked(t, tiered, query(r)) {
			t.Errorf("tiered: %s %s not revoked after Reseed", r.Kind, r.Value)
		}
	}
}

// With the cache unreachable, IsRevoked answers from the durable record:
// revoked stays revoked, and unknown tokens are still accepted.
func TestIsRevokedFallsBackToDurable(t *testing.T) {
	srv, cache := ownRedis(t)
	durable := memory.New(time.Now)
	logger, logs := newLogger()
	// Seeded while up, so the (then unreachable) cache is asked first.
	tiered := seeded(t, NewRevocations(durable, cache, logger))
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	r := revocation(store.RevokeSub, "sub-1")
	if err := durable.Revoke(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	if _, err := cache.IsRevoked(t.Context(), query(r), time.Now()); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("cache.IsRevoked = %v, want ErrUnavailable; the test proves nothing", err)
	}
	for _, tc := range []struct {
		name string
		q    store.RevocationQuery
		want bool
	}{
		{"Revoked", query(r), true},
		{"NotRevoked", store.RevocationQuery{Sub: "sub-2", IssuedAt: time.Now()}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := isRevoked(t, tiered, tc.q); got != tc.want {
				t.Errorf("IsRevoked = %v, want %v", got, tc.want)
			}
		})
	}
	if logs.count("answered from the durable record") == 0 {
		t.Error("fallback not logged")
	}
}

func TestIsRevokedBothFail(t *testing.T) {
	durable := failingDurable()
	durable.active = func(context.Context, time.Time) ([]store.Revocation, error) { return nil, nil }
	srv, cache := ownRedis(t)
	tiered := seeded(t, NewRevocations(durable, cache, nil))
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	revoked, err := tiered.IsRevoked(t.Context(), store.RevocationQuery{JTI: "x"}, time.Now())
	if err == nil || revoked {
		t.Fatalf("IsRevoked = %v, %v; want an error, never a plain \"not revoked\"", revoked, err)
	}
	if !errors.Is(err, errDurableDown) || !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("err = %v, want the durable error and ErrUnavailable", err)
	}
}

// The durable record is written first; if it fails, nothing reaches the
// cache and the caller learns of it.
func TestRevokeDurableFailure(t *testing.T) {
	cache := sharedRedis(t)
	tiered := NewRevocations(failingDurable(), cache, nil)
	r := revocation(store.RevokeJTI, "jti-1")
	if err := tiered.Revoke(t.Context(), r); !errors.Is(err, errDurableDown) {
		t.Fatalf("Revoke = %v, want the durable error", err)
	}
	markReady(t, cache) // so that Active answers
	active, err := cache.Active(t.Context(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(active) != 0 {
		t.Errorf("cache holds %v after a failed durable write", active)
	}
}

// A revocation whose cache write failed must not be forgotten when the cache
// comes back empty: the durable record answers until Reseed.
func TestCacheWriteFailureAnswersFromDurable(t *testing.T) {
	srv, cache := ownRedis(t)
	durable := memory.New(time.Now)
	logger, logs := newLogger()
	tiered := seeded(t, NewRevocations(durable, cache, logger))
	before := revocation(store.RevokeJTI, "jti-before")
	if err := tiered.Revoke(t.Context(), before); err != nil {
		t.Fatal(err)
	}
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	missed := []store.Revocation{revocation(store.RevokeJTI, "jti-missed"), revocation(store.RevokeSub, "sub-missed")}
	for _, r := range missed {
		if err := tiered.Revoke(t.Context(), r); err != nil {
			t.Fatalf("Revoke with the cache down = %v, want nil (the durable record has it)", err)
		}
	}
	if n := logs.count("revocation cache write failed"); n != 1 {
		t.Errorf("cache write failure logged %d times, want once", n)
	}
	if err := srv.Restart(); err != nil { // back, and empty
		t.Fatal(err)
	}
	for _, r := range append(missed, before) {
		if !isRevoked(t, tiered, query(r)) {
			t.Errorf("%s %s not revoked after the cache came back empty", r.Kind, r.Value)
		}
	}
	if err := tiered.Reseed(t.Context(), time.Now()); err != nil {
		t.Fatal(err)
	}
	for _, r := range append(missed, before) {
		if !isRevoked(t, cache, query(r)) {
			t.Errorf("cache lacks %s %s after Reseed", r.Kind, r.Value)
		}
	}
	// The cache answers again: an entry only the cache has is seen.
	only := revocation(store.RevokeSID, "sid-cache-only")
	if err := cache.Revoke(t.Context(), only); err != nil {
		t.Fatal(err)
	}
	if !isRevoked(t, tiered, query(only)) {
		t.Error("tiered store still bypasses the cache after a successful Reseed")
	}
}

func TestReseedDurableFailure(t *testing.T) {
	tiered := NewRevocations(failingDurable(), sharedRedis(t), nil)
	if err := tiered.Reseed(t.Context(), time.Now()); !errors.Is(err, errDurableDown) {
		t.Errorf("Reseed = %v, want the durable error", err)
	}
	if _, err := tiered.Active(t.Context(), time.Now()); !errors.Is(err, errDurableDown) {
		t.Errorf("Active = %v, want the durable error", err)
	}
}

// Active is the durable record, not whatever the cache holds.
func TestActiveFromDurable(t *testing.T) {
	durable, cache := memory.New(time.Now), sharedRedis(t)
	if err := cache.Revoke(t.Context(), revocation(store.RevokeJTI, "cache-only")); err != nil {
		t.Fatal(err)
	}
	r := revocation(store.RevokeJTI, "durable")
	if err := durable.Revoke(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	active, err := NewRevocations(durable, cache, nil).Active(t.Context(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(active) != 1 || active[0].Value != "durable" {
		t.Errorf("Active = %v, want only the durable entry", active)
	}
}
