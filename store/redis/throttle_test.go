package redis

import (
	"testing"
	"time"

	"github.com/tokenserver/tokenserver/store"
)

// What Reserve and Release write: one counter per key under the {throttle}
// hash tag, with the window as its TTL; the last Release deletes it.
func TestThrottleKeyLayout(t *testing.T) {
	s, target := openStore(t)
	raw := rawClient(t, target)
	keys := []store.ThrottleKey{
		{Key: "login:user:ab:192.0.2.1", Limit: 5, Window: time.Minute},
		{Key: "login:ip:192.0.2.1", Limit: 100, Window: time.Minute},
	}
	for range 2 {
		if wait, err := s.Reserve(t.Context(), keys); err != nil || wait != 0 {
			t.Fatalf("Reserve = %v, %v", wait, err)
		}
	}
	for _, k := range keys {
		name := target.Prefix + "{throttle}:" + k.Key
		if n, err := raw.Get(t.Context(), name).Int(); err != nil || n != 2 {
			t.Errorf("%s = %d, %v; want 2", name, n, err)
		}
		if ttl, err := raw.PTTL(t.Context(), name).Result(); err != nil || ttl <= 0 || ttl > k.Window {
			t.Errorf("PTTL %s = %v, %v; want in (0, %v]", name, ttl, err, k.Window)
		}
	}
	for range 2 {
		if err := s.Release(t.Context(), keys); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range keys {
		name := target.Prefix + "{throttle}:" + k.Key
		if n, err := raw.Exists(t.Context(), name).Result(); err != nil || n != 0 {
			t.Errorf("%s still exists after every reservation was given back (%v)", name, err)
		}
	}
}

// A counter at its limit without a TTL (left by hand or an older version)
// must not lock its key forever: Reserve refuses with a full window and sets
// it.
func TestThrottleRepairsMissingTTL(t *testing.T) {
	s, target := openStore(t)
	raw := rawClient(t, target)
	k := store.ThrottleKey{Key: "login:user:stuck", Limit: 3, Window: time.Minute}
	name := target.Prefix + "{throttle}:" + k.Key
	if err := raw.Set(t.Context(), name, 3, 0).Err(); err != nil {
		t.Fatal(err)
	}
	if wait, err := s.Reserve(t.Context(), []store.ThrottleKey{k}); err != nil || wait != k.Window {
		t.Errorf("Reserve = %v, %v; want a refusal of the full window %v", wait, err, k.Window)
	}
	if ttl, err := raw.PTTL(t.Context(), name).Result(); err != nil || ttl <= 0 || ttl > k.Window {
		t.Errorf("PTTL after Reserve = %v, %v; want in (0, %v]", ttl, err, k.Window)
	}
}

// Keys that would throttle nothing or everything are refused, and nothing
// is written.
func TestThrottleInvalidKeys(t *testing.T) {
	s, _ := openStore(t)
	good := store.ThrottleKey{Key: "good", Limit: 1, Window: time.Minute}
	tests := []struct {
		name string
		key  store.ThrottleKey
	}{
		{"ZeroLimit", store.ThrottleKey{Key: "k", Limit: 0, Window: time.Minute}},
		{"NegativeLimit", store.ThrottleKey{Key: "k", Limit: -1, Window: time.Minute}},
		{"SubMillisecondWindow", store.ThrottleKey{Key: "k", Limit: 1, Window: time.Microsecond}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys := []store.ThrottleKey{good, tt.key}
			if _, err := s.Reserve(t.Context(), keys); err == nil {
				t.Error("Reserve accepted an invalid key")
			}
			if err := s.Release(t.Context(), keys); err == nil {
				t.Error("Release accepted an invalid key")
			}
		})
	}
	if wait, err := s.Reserve(t.Context(), []store.ThrottleKey{good}); err != nil || wait != 0 {
		t.Errorf("Reserve(good) after the refused calls = %v, %v; want 0: a refused call wrote", wait, err)
	}
}
