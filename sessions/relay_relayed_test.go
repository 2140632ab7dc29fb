package sessions_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokenserver/tokenserver/sessions"
	"github.com/tokenserver/tokenserver/store"
	"github.com/tokenserver/tokenserver/store/fanout"
	"github.com/tokenserver/tokenserver/store/memory"
)

type relayedCall struct {
	value string
	at    time.Time
}

// Relayed reports each change once, when it got everywhere the relay
// delivers it (the publish lag metric): not while the cache is down, once
// when it is back, never again on later steps; a local-only relay reports
// at local delivery.
func TestRelayReportsEachChangeOnceWhenDelivered(t *testing.T) {
	clock := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	now := func() time.Time { return clock }
	for _, tc := range []struct {
		name   string
		shared bool
	}{{"cache and shared feed", true}, {"local only", false}} {
		t.Run(tc.name, func(t *testing.T) {
			durable := memory.New(nil)
			local := fanout.New(nil, nil)
			t.Cleanup(local.Close)
			var cacheDown atomic.Bool
			var calls []relayedCall
			cfg := sessions.RelayConfig{
				Log: durable, Local: local, Now: now,
				Relayed: func(r store.Revocation, at time.Time) { calls = append(calls, relayedCall{r.Value, at}) },
			}
			if tc.shared {
				cfg.Cache = switchableCache{memory.New(nil), &cacheDown}
				cfg.Shared = memory.New(nil)
			}
			relay, err := sessions.NewRelay(t.Context(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range []string{"a", "b"} {
				if err := durable.Revoke(t.Context(), revocation(v)); err != nil {
					t.Fatal(err)
				}
			}
			if tc.shared {
				cacheDown.Store(true)
				if err := relay.Step(t.Context()); err != nil {
					t.Fatal(err)
				}
				if len(calls) != 0 {
					t.Fatalf("reported %v while the cache was down", calls)
				}
				cacheDown.Store(false)
			}
			if err := relay.Step(t.Context()); err != nil {
				t.Fatal(err)
			}
			want := []relayedCall{{"a", clock}, {"b", clock}}
			if len(calls) != len(want) || calls[0] != want[0] || calls[1] != want[1] {
				t.Fatalf("Relayed calls %v, want %v", calls, want)
			}
			if err := relay.Step(t.Context()); err != nil {
				t.Fatal(err)
			}
			if len(calls) != len(want) {
				t.Fatalf("a later step reported again: %v", calls)
			}
		})
	}
}
