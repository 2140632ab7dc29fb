package storetest

import (
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokenserver/tokenserver/store"
)

// TestProofReplayCache runs the store.ProofReplayCache conformance suite.
// newCache returns a fresh cache for each case.
func TestProofReplayCache(t *testing.T, newCache func(*testing.T) store.ProofReplayCache) {
	seen := func(t *testing.T, c store.ProofReplayCache, key string, until time.Time) bool {
		t.Helper()
		replayed, err := c.Seen(t.Context(), key, until)
		if err != nil {
			t.Fatalf("Seen(%q): %v", key, err)
		}
		return replayed
	}

	t.Run("FirstThenReplayed", func(t *testing.T) {
		c := newCache(t)
		key := suiteName(t, "jkt:")
		until := time.Now().Add(time.Minute)
		if seen(t, c, key, until) {
			t.Fatal("first Seen = replayed, want new")
		}
		if !seen(t, c, key, until) {
			t.Fatal("second Seen = new, want replayed")
		}
		// A later until does not make a recorded key new again.
		if !seen(t, c, key, until.Add(time.Hour)) {
			t.Fatal("third Seen with a later until = new, want replayed")
		}
	})

	t.Run("KeysAreIndependent", func(t *testing.T) {
		c := newCache(t)
		until := time.Now().Add(time.Minute)
		a, b := suiteName(t, "a:"), suiteName(t, "b:")
		if seen(t, c, a, until) || seen(t, c, b, until) {
			t.Fatal("a fresh key reported replayed")
		}
		// Keys differing only in case or by a prefix are different keys.
		if seen(t, c, strings.ToUpper(a), until) || seen(t, c, a+"x", until) {
			t.Fatal("a key that differs reported replayed")
		}
	})

	t.Run("PastUntilRecordsNothing", func(t *testing.T) {
		c := newCache(t)
		key := suiteName(t, "old:")
		past := time.Now().Add(-time.Minute)
		if seen(t, c, key, past) || seen(t, c, key, past) {
			t.Fatal("Seen with a past until reported replayed")
		}
		// It recorded nothing, so a live entry can still be made once.
		until := time.Now().Add(time.Minute)
		if seen(t, c, key, until) {
			t.Fatal("Seen after past-until calls = replayed, want new")
		}
		if !seen(t, c, key, until) {
			t.Fatal("second live Seen = new, want replayed")
		}
	})

	t.Run("InvalidKeys", func(t *testing.T) {
		c := newCache(t)
		until := time.Now().Add(time.Minute)
		for _, key := range []string{"", strings.Repeat("k", store.MaxProofKeyLen+1)} {
			if _, err := c.Seen(t.Context(), key, until); err == nil {
				t.Errorf("Seen(key of %d bytes) = nil error, want one", len(key))
			}
		}
		long := strings.Repeat("k", store.MaxProofKeyLen-20) + suiteName(t, "")
		if seen(t, c, long, until) || !seen(t, c, long, until) {
			t.Error("a key of MaxProofKeyLen bytes is not recorded")
		}
	})

	t.Run("ConcurrentExactlyOne", func(t *testing.T) {
		c := newCache(t)
		key := suiteName(t, "race:")
		until := time.Now().Add(time.Minute)
		const n = 50
		var fresh atomic.Int32
		var wg sync.WaitGroup
		start := make(chan struct{})
		errs := make(chan error, n)
		for range n {
			wg.Go(func() {
				<-start
				replayed, err := c.Seen(t.Context(), key, until)
				if err != nil {
					errs <- err
					return
				}
				if !replayed {
					fresh.Add(1)
				}
			})
		}
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("Seen: %v", err)
		}
		if got := fresh.Load(); got != 1 {
			t.Errorf("%d of %d concurrent calls saw a new key, want exactly 1", got, n)
		}
	})
}
