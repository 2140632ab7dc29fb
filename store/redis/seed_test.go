package redis

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/tokenserver/tokenserver/store"
	"github.com/tokenserver/tokenserver/store/storetest"
)

// markReady seeds s with nothing, as the token server's first reseed of an
// empty durable record would, so that its reads answer.
func markReady(t *testing.T, s *Store) {
	t.Helper()
	token, err := s.BeginSeed(t.Context())
	if err != nil {
		t.Fatalf("BeginSeed: %v", err)
	}
	if err := s.CompleteSeed(t.Context(), token); err != nil {
		t.Fatalf("CompleteSeed: %v", err)
	}
}

// openUnseeded is openStore without the marker: a cache nobody seeded yet,
// or one that lost its data.
func openUnseeded(t *testing.T) (*Store, *goredis.Client) {
	t.Helper()
	target := storetest.StartRedis(t)
	s, err := Open(t.Context(), Config{URL: target.URL(), Prefix: target.Prefix})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, rawClient(t, target)
}

// complete reports whether the cache's reads answer: nil if IsRevoked,
// Active and CheckSeeded do, else their errors (they must agree).
func complete(t *testing.T, s *Store) error {
	t.Helper()
	_, errRead := s.IsRevoked(t.Context(), store.RevocationQuery{JTI: "probe"}, time.Now())
	_, errActive := s.Active(t.Context(), time.Now())
	errCheck := s.CheckSeeded(t.Context())
	if errors.Is(errRead, store.ErrCacheIncomplete) != errors.Is(errActive, store.ErrCacheIncomplete) ||
		errors.Is(errRead, store.ErrCacheIncomplete) != errors.Is(errCheck, store.ErrCacheIncomplete) {
		t.Fatalf("IsRevoked = %v, Active = %v, CheckSeeded = %v; want all incomplete or none", errRead, errActive, errCheck)
	}
	return errors.Join(errRead, errActive, errCheck)
}

func marker(t *testing.T, raw *goredis.Client, s *Store) string {
	t.Helper()
	v, err := raw.Get(t.Context(), s.markerKey()).Result()
	if errors.Is(err, goredis.Nil) {
		return "<absent>"
	}
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// The marker's life: absent (reads refuse), seeding (reads still refuse,
// another seeder joins the same generation), ready (reads answer, a reseed
// keeps it ready), lost (reads refuse, and a seed begun before the loss
// cannot complete).
func TestSeedMarkerLifecycle(t *testing.T) {
	s, raw := openUnseeded(t)
	ctx := t.Context()
	r := store.Revocation{Kind: store.RevokeJTI, Value: "jti-1", ExpiresAt: time.Now().Add(time.Hour)}
	if err := s.Revoke(ctx, r); err != nil {
		t.Fatal(err)
	}
	if err := complete(t, s); !errors.Is(err, store.ErrCacheIncomplete) {
		t.Fatalf("never seeded: reads = %v, want ErrCacheIncomplete", err)
	}

	token, err := s.BeginSeed(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := marker(t, raw, s); got != "seeding:"+token {
		t.Fatalf("marker after BeginSeed = %q, want seeding:%s", got, token)
	}
	if err := complete(t, s); !errors.Is(err, store.ErrCacheIncomplete) {
		t.Fatalf("while seeding: reads = %v, want ErrCacheIncomplete", err)
	}
	joined, err := s.BeginSeed(ctx)
	if err != nil || joined != token {
		t.Fatalf("second BeginSeed = %q, %v; want to join generation %q", joined, err, token)
	}

	if err := s.CompleteSeed(ctx, token); err != nil {
		t.Fatalf("CompleteSeed: %v", err)
	}
	if got := marker(t, raw, s); got != "ready:"+token {
		t.Fatalf("marker after CompleteSeed = %q, want ready:%s", got, token)
	}
	if err := complete(t, s); err != nil {
		t.Fatalf("ready: reads = %v", err)
	}
	// The joiner completes too (the generation is already ready).
	if err := s.CompleteSeed(ctx, joined); err != nil {
		t.Fatalf("CompleteSeed by the joiner: %v", err)
	}
	if active, err := s.Active(ctx, time.Now()); err != nil || len(active) != 1 || active[0].Value != r.Value {
		t.Fatalf("Active = %v, %v; want only %s (not the marker)", active, err, r.Value)
	}

	// A periodic reseed of a ready cache never demotes it.
	again, err := s.BeginSeed(ctx)
	if err != nil || again != token {
		t.Fatalf("BeginSeed on a ready cache = %q, %v; want its generation %q", again, err, token)
	}
	if err := complete(t, s); err != nil {
		t.Fatalf("reseeding a ready cache: reads = %v, want them to keep answering", err)
	}

	// The data is lost mid-copy (only this prefix here; FLUSHALL in the
	// tiered tests): the seed begun before cannot mark it ready.
	if err := raw.Del(ctx, s.markerKey(), s.revocationKey(r.Kind, r.Value)).Err(); err != nil {
		t.Fatal(err)
	}
	if err := complete(t, s); !errors.Is(err, store.ErrCacheIncomplete) {
		t.Fatalf("after the loss: reads = %v, want ErrCacheIncomplete", err)
	}
	if err := s.CompleteSeed(ctx, again); !errors.Is(err, store.ErrCacheIncomplete) {
		t.Fatalf("CompleteSeed over a lost marker = %v, want ErrCacheIncomplete", err)
	}
	if got := marker(t, raw, s); got != "<absent>" {
		t.Fatalf("marker = %q after a refused CompleteSeed, want it still absent", got)
	}
	// Lost, then another process began a new generation: the old seed
	// still cannot complete, and does not disturb the new one.
	fresh, err := s.BeginSeed(ctx)
	if err != nil || fresh == token {
		t.Fatalf("BeginSeed after the loss = %q, %v; want a new generation", fresh, err)
	}
	if err := s.CompleteSeed(ctx, token); !errors.Is(err, store.ErrCacheIncomplete) {
		t.Fatalf("CompleteSeed of the old generation = %v, want ErrCacheIncomplete", err)
	}
	if got := marker(t, raw, s); got != "seeding:"+fresh {
		t.Fatalf("marker = %q, want the new generation still seeding", got)
	}
}

// Processes starting a seed of an emptied cache at once agree on one
// generation (BeginSeed is one script).
func TestBeginSeedConcurrent(t *testing.T) {
	s, _ := openUnseeded(t)
	const n = 20
	tokens := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { tokens[i], errs[i] = s.BeginSeed(t.Context()) })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("BeginSeed %d: %v", i, errs[i])
		}
		if tokens[i] != tokens[0] {
			t.Fatalf("BeginSeed %d = %q, BeginSeed 0 = %q; want one generation", i, tokens[i], tokens[0])
		}
	}
}

// A marker that is not one of ours (written by hand, another version) makes
// reads refuse and is replaced by the next seed, never left stuck.
func TestSeedReplacesForeignMarker(t *testing.T) {
	s, raw := openUnseeded(t)
	for _, v := range []string{"1", "ready:", "READY:x"} {
		t.Run(v, func(t *testing.T) {
			if err := raw.Set(t.Context(), s.markerKey(), v, 0).Err(); err != nil {
				t.Fatal(err)
			}
			if err := complete(t, s); !errors.Is(err, store.ErrCacheIncomplete) {
				t.Fatalf("marker %q: reads = %v, want ErrCacheIncomplete", v, err)
			}
			markReady(t, s)
			if err := complete(t, s); err != nil {
				t.Fatalf("after a seed: reads = %v", err)
			}
		})
	}
}

func TestCompleteSeedRejectsEmptyToken(t *testing.T) {
	s, raw := openUnseeded(t)
	if _, err := s.BeginSeed(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := s.CompleteSeed(t.Context(), ""); err == nil {
		t.Fatal("CompleteSeed(\"\") = nil")
	}
	if got := marker(t, raw, s); !strings.HasPrefix(got, "seeding:") {
		t.Fatalf("marker = %q, want it still seeding", got)
	}
}

// seedOps are the seeding calls TestUnavailable also runs.
var seedOps = []struct {
	name string
	op   func(context.Context, *Store) error
}{
	{"BeginSeed", func(ctx context.Context, s *Store) error { _, err := s.BeginSeed(ctx); return err }},
	{"CompleteSeed", func(ctx context.Context, s *Store) error { return s.CompleteSeed(ctx, "gen") }},
	{"CheckSeeded", func(ctx context.Context, s *Store) error { return s.CheckSeeded(ctx) }},
}
