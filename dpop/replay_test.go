package dpop

import (
	"errors"
	"testing"
	"time"

	"github.com/tokenserver/tokenserver/store"
	"github.com/tokenserver/tokenserver/store/storetest"
)

func TestMemoryReplayCacheConformance(t *testing.T) {
	storetest.TestProofReplayCache(t, func(*testing.T) store.ProofReplayCache {
		return NewMemoryReplayCache(0, nil)
	})
}

func TestMemoryReplayCacheExpiresAndBounds(t *testing.T) {
	now := testNow
	c := NewMemoryReplayCache(2, func() time.Time { return now })
	seen := func(key string, until time.Time) (bool, error) { return c.Seen(t.Context(), key, until) }
	if r, err := seen("a", now.Add(time.Minute)); r || err != nil {
		t.Fatalf("a: %v, %v", r, err)
	}
	if r, err := seen("b", now.Add(2*time.Minute)); r || err != nil {
		t.Fatalf("b: %v, %v", r, err)
	}
	// Full of live entries: refuse rather than forget one.
	if _, err := seen("c", now.Add(time.Minute)); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("c on a full cache: %v, want ErrUnavailable", err)
	}
	if r, _ := seen("a", now.Add(time.Minute)); !r {
		t.Fatal("a forgotten while live")
	}
	// a expires: room for c, and a is new again.
	now = now.Add(time.Minute)
	if r, err := seen("c", now.Add(time.Minute)); r || err != nil {
		t.Fatalf("c after a expired: %v, %v", r, err)
	}
	if c.Len() != 2 {
		t.Errorf("Len = %d, want 2", c.Len())
	}
	if r, _ := seen("b", now.Add(time.Minute)); !r {
		t.Error("b forgotten while live")
	}
}
