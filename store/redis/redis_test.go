package redis

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/tokenserver/tokenserver/store"
	"github.com/tokenserver/tokenserver/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

// openStore opens a Store on the test binary's redis-server with a fresh
// prefix, marked complete (as after a reseed), closed when the test ends.
func openStore(t *testing.T) (*Store, storetest.RedisTarget) {
	t.Helper()
	target := storetest.StartRedis(t)
	s, err := Open(t.Context(), Config{URL: target.URL(), Prefix: target.Prefix})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	markReady(t, s)
	return s, target
}

// rawClient is a plain go-redis client for inspecting what the Store wrote.
func rawClient(t *testing.T, target storetest.RedisTarget) *goredis.Client {
	t.Helper()
	opts, err := goredis.ParseURL(target.URL())
	if err != nil {
		t.Fatal(err)
	}
	c := goredis.NewClient(opts)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestRevocationStore(t *testing.T) {
	storetest.TestRevocationStore(t, func(t *testing.T) store.RevocationStore {
		s, _ := openStore(t)
		return s
	})
}

func TestRevocationFeed(t *testing.T) {
	storetest.TestRevocationFeed(t, func(t *testing.T) store.RevocationFeed {
		s, _ := openStore(t)
		return s
	})
}

func TestLoginThrottle(t *testing.T) {
	storetest.TestLoginThrottle(t, func(t *testing.T) store.LoginThrottle {
		s, _ := openStore(t)
		return s
	})
}

// The key layout is a documented interface (operators inspect it, and the
// tiered store relies on Redis forgetting entries by itself).
func TestRevokeKeyLayout(t *testing.T) {
	s, target := openStore(t)
	raw := rawClient(t, target)
	now := time.Now().Truncate(time.Millisecond)
	r := store.Revocation{Kind: store.RevokeSub, Value: "user-1", NotBefore: now.Truncate(time.Second),
		ExpiresAt: now.Add(time.Hour), CreatedAt: now}
	if err := s.Revoke(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	key := target.Prefix + "rev:sub:user-1"
	body, err := raw.Get(t.Context(), key).Bytes()
	if err != nil {
		t.Fatalf("GET %s: %v", key, err)
	}
	// The stored form must not change between versions: spelled out here.
	var e struct {
		Kind      string    `json:"kind"`
		Value     string    `json:"value"`
		NotBefore time.Time `json:"not_before"`
		ExpiresAt time.Time `json:"expires_at"`
		CreatedAt time.Time `json:"created_at"`
	}
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("value is not a JSON Revocation: %v (%s)", err, body)
	}
	got := store.Revocation{Kind: store.RevocationKind(e.Kind), Value: e.Value, NotBefore: e.NotBefore,
		ExpiresAt: e.ExpiresAt, CreatedAt: e.CreatedAt}
	if got.Kind != r.Kind || got.Value != r.Value || !got.NotBefore.Equal(r.NotBefore) ||
		!got.ExpiresAt.Equal(r.ExpiresAt) || !got.CreatedAt.Equal(r.CreatedAt) {
		t.Errorf("stored %+v, want %+v", got, r)
	}
	expireAt, err := raw.PExpireTime(t.Context(), key).Result()
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Duration(r.ExpiresAt.UnixMilli()) * time.Millisecond; expireAt != want {
		t.Errorf("PEXPIRETIME = %v, want ExpiresAt %v", expireAt, want)
	}
}

// Concurrent revocations of one subject must leave the latest NotBefore and
// ExpiresAt, whatever order the WATCH transactions commit in.
func TestRevokeConcurrentLatestWins(t *testing.T) {
	s, _ := openStore(t)
	base := time.Now().Truncate(time.Second)
	const n = 50
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			errs <- s.Revoke(t.Context(), store.Revocation{
				Kind: store.RevokeSub, Value: "user-1",
				NotBefore: base.Add(time.Duration(i) * time.Second),
				ExpiresAt: base.Add(time.Hour + time.Duration(n-i)*time.Second),
				CreatedAt: base,
			})
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("Revoke: %v", err)
		}
	}
	active, err := s.Active(t.Context(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(active) != 1 {
		t.Fatalf("Active = %d entries, want 1", len(active))
	}
	if want := base.Add((n - 1) * time.Second); !active[0].NotBefore.Equal(want) {
		t.Errorf("NotBefore = %v, want the latest %v", active[0].NotBefore, want)
	}
	if want := base.Add(time.Hour + n*time.Second); !active[0].ExpiresAt.Equal(want) {
		t.Errorf("ExpiresAt = %v, want the latest %v", active[0].ExpiresAt, want)
	}
}

func TestRevokeRejectsInvalid(t *testing.T) {
	s, _ := openStore(t)
	exp := time.Now().Add(time.Hour)
	for _, tc := range []struct {
		name string
		r    store.Revocation
	}{
		{"UnknownKind", store.Revocation{Kind: "aud", Value: "x", ExpiresAt: exp}},
		{"EmptyValue", store.Revocation{Kind: store.RevokeJTI, ExpiresAt: exp}},
		{"NoExpiry", store.Revocation{Kind: store.RevokeJTI, Value: "x"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := s.Revoke(t.Context(), tc.r)
			if err == nil || errors.Is(err, store.ErrUnavailable) {
				t.Fatalf("Revoke = %v, want a validation error", err)
			}
			if active, err := s.Active(t.Context(), time.Now()); err != nil || len(active) != 0 {
				t.Errorf("Active = %v, %v; want nothing stored", active, err)
			}
		})
	}
}

// A prefix containing glob characters must not make Active list the
// entries of another prefix.
func TestActiveEscapesPrefix(t *testing.T) {
	target := storetest.StartRedis(t)
	open := func(prefix string) *Store {
		s, err := Open(t.Context(), Config{URL: target.URL(), Prefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		markReady(t, s)
		return s
	}
	glob, other := open(target.Prefix+"a*["), open(target.Prefix+"ab[")
	exp := time.Now().Add(time.Hour)
	if err := other.Revoke(t.Context(), store.Revocation{Kind: store.RevokeJTI, Value: "x", ExpiresAt: exp}); err != nil {
		t.Fatal(err)
	}
	active, err := glob.Active(t.Context(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(active) != 0 {
		t.Errorf("Active under %q lists %v from another prefix", target.Prefix+"a*[", active)
	}
}

// After the server restarts (connections drop, data is gone) the
// subscription says Resync again and then delivers new revocations.
func TestSubscribeResyncsAfterRestart(t *testing.T) {
	s, _ := openStore(t)
	ch, err := s.Subscribe(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if ev := receive(t, ch); !ev.Resync {
		t.Fatalf("first event = %+v, want Resync", ev)
	}
	storetest.RestartRedis(t)
	if ev := receive(t, ch); !ev.Resync {
		t.Fatalf("event after restart = %+v, want Resync", ev)
	}
	r := store.Revocation{Kind: store.RevokeJTI, Value: "after-restart", ExpiresAt: time.Now().Add(time.Hour)}
	if err := s.Publish(t.Context(), r); err != nil {
		t.Fatalf("Publish after restart: %v", err)
	}
	ev := receive(t, ch)
	if ev.Revocation == nil || ev.Revocation.Value != r.Value {
		t.Fatalf("event = %+v, want the revocation published after the restart", ev)
	}
}

// A message the subscriber cannot decode means a revocation it cannot
// apply, so it must reload everything.
func TestSubscribeUndecodableMessageResyncs(t *testing.T) {
	s, target := openStore(t)
	ch, err := s.Subscribe(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	receive(t, ch) // initial Resync
	raw := rawClient(t, target)
	for _, payload := range []string{"not json", `{"kind":"aud","value":"x"}`} {
		if err := raw.Publish(t.Context(), target.Prefix+"revocations", payload).Err(); err != nil {
			t.Fatal(err)
		}
		if ev := receive(t, ch); !ev.Resync || ev.Revocation != nil {
			t.Errorf("event for %q = %+v, want Resync", payload, ev)
		}
	}
}

func TestSubscribeClosedWithStore(t *testing.T) {
	s, _ := openStore(t)
	ch, err := s.Subscribe(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	receive(t, ch)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case _, ok := <-ch:
		if ok {
			t.Fatal("event after Close, want the channel closed")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("channel not closed within 5s of Close")
	}
}

func receive(t *testing.T, ch <-chan store.FeedEvent) store.FeedEvent {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatal("feed channel closed")
		}
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no feed event within 10s")
	}
	panic("unreachable")
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

// Every operation against a server that is gone returns an error wrapping
// store.ErrUnavailable, promptly: a request must be able to fall back.
func TestUnavailable(t *testing.T) {
	// A server that was used and then stopped (pooled connections die) and
	// a port where nothing ever listened.
	stopped, err := storetest.StartRedisServer()
	if err != nil {
		t.Skipf("redis-server: %v", err)
	}
	t.Cleanup(func() { _ = stopped.Stop() })
	used, err := Open(t.Context(), Config{URL: "redis://" + stopped.Addr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = used.Close() })
	if err := used.Ping(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := stopped.Stop(); err != nil {
		t.Fatal(err)
	}
	never, err := Open(t.Context(), Config{URL: "redis://" + closedPort(t)})
	if err != nil {
		t.Fatalf("Open on a closed port = %v, want a store that reports ErrUnavailable per call", err)
	}
	t.Cleanup(func() { _ = never.Close() })

	keys := []store.ThrottleKey{{Key: "k", Limit: 3, Window: time.Minute}}
	r := store.Revocation{Kind: store.RevokeJTI, Value: "x", ExpiresAt: time.Now().Add(time.Hour)}
	ops := []struct {
		name string
		op   func(context.Context, *Store) error
	}{
		{"Ping", func(ctx context.Context, s *Store) error { return s.Ping(ctx) }},
		{"Revoke", func(ctx context.Context, s *Store) error { return s.Revoke(ctx, r) }},
		{"IsRevoked", func(ctx context.Context, s *Store) error {
			_, err := s.IsRevoked(ctx, store.RevocationQuery{JTI: "x", SID: "y", Sub: "z"}, time.Now())
			return err
		}},
		{"Active", func(ctx context.Context, s *Store) error { _, err := s.Active(ctx, time.Now()); return err }},
		{"Publish", func(ctx context.Context, s *Store) error { return s.Publish(ctx, r) }},
		{"Subscribe", func(ctx context.Context, s *Store) error { _, err := s.Subscribe(ctx); return err }},
		{"Reserve", func(ctx context.Context, s *Store) error { _, err := s.Reserve(ctx, keys); return err }},
		{"Release", func(ctx context.Context, s *Store) error { return s.Release(ctx, keys) }},
	}
	ops = append(ops, seedOps...)
	for _, server := range []struct {
		name string
		s    *Store
	}{{"Stopped", used}, {"NeverListened", never}} {
		for _, tc := range ops {
			t.Run(server.name+"/"+tc.name, func(t *testing.T) {
				start := time.Now()
				err := tc.op(t.Context(), server.s)
				elapsed := time.Since(start)
				if !errors.Is(err, store.ErrUnavailable) {
					t.Fatalf("err = %v, want store.ErrUnavailable", err)
				}
				// A hang guard, not a performance target: a refused dial
				// must not be retried for seconds.
				if elapsed > 3*time.Second {
					t.Errorf("took %v to fail", elapsed)
				}
				t.Logf("failed in %v: %v", elapsed, err)
			})
		}
	}
}

func TestUnavailableAfterClose(t *testing.T) {
	s, _ := openStore(t)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.IsRevoked(t.Context(), store.RevocationQuery{JTI: "x"}, time.Now()); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("IsRevoked after Close = %v, want store.ErrUnavailable", err)
	}
}

func TestPrefixDefault(t *testing.T) {
	target := storetest.StartRedis(t)
	s, err := Open(t.Context(), Config{URL: target.URL()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if s.prefix != DefaultPrefix || s.channel != DefaultPrefix+"revocations" {
		t.Errorf("prefix %q, channel %q; want %q", s.prefix, s.channel, DefaultPrefix)
	}
}
