package sessions_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokenserver/tokenserver/sessions"
	"github.com/tokenserver/tokenserver/store"
	"github.com/tokenserver/tokenserver/store/fanout"
	"github.com/tokenserver/tokenserver/store/memory"
)

// relayRig is a durable store (with its log), a cache, a shared feed and a
// local feed, as a server wires them, all in memory.
type relayRig struct {
	durable, cache, shared *memory.Store
	local                  *fanout.Feed
	missed                 atomic.Int64
	cacheDown              atomic.Bool
	logDown                atomic.Bool
	relay                  *sessions.Relay
}

// newRelayRig writes earlier to the durable store, then starts the relay.
func newRelayRig(t *testing.T, now func() time.Time, earlier ...store.Revocation) *relayRig {
	t.Helper()
	r := &relayRig{durable: memory.New(nil), cache: memory.New(nil), shared: memory.New(nil), local: fanout.New(nil, nil)}
	t.Cleanup(r.local.Close)
	for _, e := range earlier {
		if err := r.durable.Revoke(t.Context(), e); err != nil {
			t.Fatal(err)
		}
	}
	relay, err := sessions.NewRelay(t.Context(), sessions.RelayConfig{
		Log:         switchableLog{r.durable, &r.logDown},
		Local:       r.local,
		Cache:       switchableCache{r.cache, &r.cacheDown},
		Shared:      r.shared,
		CacheMissed: func() { r.missed.Add(1) },
		Now:         now,
	})
	if err != nil {
		t.Fatal(err)
	}
	r.relay = relay
	return r
}

func revocation(value string) store.Revocation {
	now := time.Now()
	return store.Revocation{Kind: store.RevokeJTI, Value: value, ExpiresAt: now.Add(time.Hour), CreatedAt: now}
}

func isRevoked(t *testing.T, s store.RevocationStore, jti string) bool {
	t.Helper()
	ok, err := s.IsRevoked(t.Context(), store.RevocationQuery{JTI: jti}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

// A revocation written only to the durable record (the CLI without Redis,
// or a writer whose publish failed) reaches the cache, the shared feed and
// the local subscribers through the relay.
func TestRelayDeliversDurableOnlyWrites(t *testing.T) {
	before := revocation("before-the-relay")
	rig := newRelayRig(t, time.Now, before)
	shared, err := rig.shared.Subscribe(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	<-shared // initial Resync
	if err := rig.relay.Step(t.Context()); err != nil {
		t.Fatal(err)
	}
	local, err := rig.local.Subscribe(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if ev := <-local; !ev.Resync {
		t.Fatalf("first local event %+v, want the Resync of a vouched feed", ev)
	}

	r := revocation("cli-wrote-it")
	if err := rig.durable.Revoke(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	if isRevoked(t, rig.cache, r.Value) {
		t.Fatal("cache has it before the relay ran")
	}
	if err := rig.relay.Step(t.Context()); err != nil {
		t.Fatal(err)
	}
	if !isRevoked(t, rig.cache, r.Value) {
		t.Error("cache does not have the relayed revocation")
	}
	if ev := <-local; ev.Revocation == nil || ev.Revocation.Value != r.Value {
		t.Errorf("local subscriber got %+v, want %s", ev, r.Value)
	}
	if ev := <-shared; ev.Revocation == nil || ev.Revocation.Value != r.Value {
		t.Errorf("shared feed got %+v, want %s", ev, r.Value)
	}
	// "before" was never relayed: it predates the relay (snapshots have it).
	if isRevoked(t, rig.cache, before.Value) {
		t.Error("the relay replayed a change from before it started")
	}
}

// While the cache is down, local subscribers still get every change at
// once; the cache and the shared feed get them, in order, when it is back,
// and the denylist is told the cache missed a write meanwhile.
func TestRelayRetriesTheCache(t *testing.T) {
	rig := newRelayRig(t, time.Now)
	local, _ := rig.local.Subscribe(t.Context())
	rig.cacheDown.Store(true)
	a, b := revocation("a"), revocation("b")
	for _, r := range []store.Revocation{a, b} {
		if err := rig.durable.Revoke(t.Context(), r); err != nil {
			t.Fatal(err)
		}
	}
	if err := rig.relay.Step(t.Context()); err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for range 3 { // a, b and the Resync of the first vouch, in any order
		if ev := <-local; ev.Revocation != nil {
			got[ev.Revocation.Value] = true
		}
	}
	if !got["a"] || !got["b"] {
		t.Fatalf("local subscriber got %v, want a and b", got)
	}
	if rig.missed.Load() == 0 {
		t.Error("the denylist was not told that the cache missed a write")
	}
	rig.cacheDown.Store(false)
	if err := rig.relay.Step(t.Context()); err != nil {
		t.Fatal(err)
	}
	if !isRevoked(t, rig.cache, "a") || !isRevoked(t, rig.cache, "b") {
		t.Error("the cache did not get the changes it missed")
	}
}

// The local feed is healthy only while the relay reads the log: a dead
// database stops the vouching, and the streams' heartbeats with it.
func TestRelayVouchesOnlyWhileTheLogAnswers(t *testing.T) {
	// The relay's clock runs in the past, so each vouch has already expired
	// on the feed's (real) clock unless it was just renewed... which a
	// past clock never does: health then rests on the Vouch itself.
	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	rig := newRelayRig(t, func() time.Time { return time.Unix(0, clock.Load()) })
	if rig.local.Healthy() {
		t.Fatal("healthy before the relay read the log")
	}
	if err := rig.relay.Step(t.Context()); err != nil {
		t.Fatal(err)
	}
	if !rig.local.Healthy() {
		t.Fatal("not healthy after a successful read")
	}
	rig.logDown.Store(true)
	clock.Store(time.Now().Add(-time.Hour).UnixNano()) // any further vouch would be long expired
	if err := rig.relay.Step(t.Context()); err == nil {
		t.Fatal("Step succeeded with the log down")
	}
	// The last vouch still holds until it lapses; renewing it needs a read.
	rig.local.Vouch(time.Now().Add(-time.Second)) // lapse it now
	if rig.local.Healthy() {
		t.Error("healthy although the log cannot be read")
	}
}

type switchableLog struct {
	store.RevocationLog
	down *atomic.Bool
}

func (s switchableLog) RevocationsAfter(ctx context.Context, after int64, limit int) ([]store.Revocation, int64, error) {
	if s.down.Load() {
		return nil, after, errors.New("log down: " + store.ErrUnavailable.Error())
	}
	return s.RevocationLog.RevocationsAfter(ctx, after, limit)
}

type switchableCache struct {
	store.RevocationStore
	down *atomic.Bool
}

func (s switchableCache) Revoke(ctx context.Context, r store.Revocation) error {
	if s.down.Load() {
		return store.ErrUnavailable
	}
	return s.RevocationStore.Revoke(ctx, r)
}
