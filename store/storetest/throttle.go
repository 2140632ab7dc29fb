package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/tokenserver/tokenserver/store"
)

// suiteCheck returns the throttle's wait for keys, failing on error.
func suiteCheck(t *testing.T, th store.LoginThrottle, keys ...store.ThrottleKey) time.Duration {
	t.Helper()
	wait, err := th.Check(t.Context(), keys)
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	return wait
}

// suiteFail records n failures against keys, failing on error.
func suiteFail(t *testing.T, th store.LoginThrottle, n int, keys ...store.ThrottleKey) {
	t.Helper()
	for range n {
		if err := th.Fail(t.Context(), keys); err != nil {
			t.Fatalf("Fail: %v", err)
		}
	}
}

// TestLoginThrottle runs the conformance suite for store.LoginThrottle.
// newThrottle must return a fresh throttle for each call. Windows pass in
// real time; the one case that waits for it runs in parallel.
func TestLoginThrottle(t *testing.T, newThrottle func(*testing.T) store.LoginThrottle) {
	user := func(t *testing.T, limit int, window time.Duration) store.ThrottleKey {
		return store.ThrottleKey{Key: suiteName(t, "user:"), Limit: limit, Window: window}
	}

	t.Run("NoKeys", func(t *testing.T) {
		if wait := suiteCheck(t, newThrottle(t)); wait != 0 {
			t.Errorf("Check() = %v, want 0", wait)
		}
	})

	t.Run("UnderLimit", func(t *testing.T) {
		th := newThrottle(t)
		k := user(t, 3, time.Minute)
		suiteFail(t, th, 2, k)
		if wait := suiteCheck(t, th, k); wait != 0 {
			t.Errorf("Check after 2 of 3 failures = %v, want 0", wait)
		}
	})

	t.Run("CheckRecordsNothing", func(t *testing.T) {
		th := newThrottle(t)
		k := user(t, 2, time.Minute)
		for range 5 {
			suiteCheck(t, th, k)
		}
		suiteFail(t, th, 1, k)
		if wait := suiteCheck(t, th, k); wait != 0 {
			t.Errorf("Check after 5 checks and 1 of 2 failures = %v, want 0", wait)
		}
	})

	t.Run("AtLimit", func(t *testing.T) {
		for _, n := range []int{3, 4} {
			t.Run(fmt.Sprintf("%dFailures", n), func(t *testing.T) {
				th := newThrottle(t)
				k := user(t, 3, time.Minute)
				suiteFail(t, th, n, k)
				if wait := suiteCheck(t, th, k); wait <= 0 || wait > k.Window {
					t.Errorf("Check after %d of 3 failures = %v, want in (0, %v]", n, wait, k.Window)
				}
			})
		}
	})

	t.Run("KeysIndependent", func(t *testing.T) {
		th := newThrottle(t)
		a, b := user(t, 2, time.Minute), user(t, 2, time.Minute)
		suiteFail(t, th, 2, a)
		suiteFail(t, th, 1, b)
		if wait := suiteCheck(t, th, b); wait != 0 {
			t.Errorf("Check(b) = %v, want 0: a's failures leaked", wait)
		}
		if wait := suiteCheck(t, th, a); wait <= 0 {
			t.Errorf("Check(a) = %v, want > 0", wait)
		}
		if wait := suiteCheck(t, th, b, a); wait <= 0 {
			t.Errorf("Check(b, a) = %v, want > 0: any blocked key blocks", wait)
		}
	})

	t.Run("FailCountsEveryKey", func(t *testing.T) {
		th := newThrottle(t)
		a, b := user(t, 2, time.Minute), user(t, 2, time.Minute)
		suiteFail(t, th, 2, a, b)
		for name, k := range map[string]store.ThrottleKey{"a": a, "b": b} {
			if wait := suiteCheck(t, th, k); wait <= 0 {
				t.Errorf("Check(%s) = %v, want > 0", name, wait)
			}
		}
	})

	t.Run("LongestWaitWins", func(t *testing.T) {
		th := newThrottle(t)
		short, long := user(t, 1, time.Minute), user(t, 1, time.Hour)
		suiteFail(t, th, 1, short, long)
		for _, keys := range [][]store.ThrottleKey{{short, long}, {long, short}} {
			if wait := suiteCheck(t, th, keys...); wait <= short.Window || wait > long.Window {
				t.Errorf("Check = %v, want in (%v, %v]", wait, short.Window, long.Window)
			}
		}
	})

	t.Run("AllowedAgainAfterWindow", func(t *testing.T) {
		t.Parallel()
		th := newThrottle(t)
		k := user(t, 2, 500*time.Millisecond)
		suiteFail(t, th, 2, k)
		wait := suiteCheck(t, th, k)
		if wait <= 0 || wait > k.Window {
			t.Fatalf("Check at limit = %v, want in (0, %v]", wait, k.Window)
		}
		time.Sleep(wait + 200*time.Millisecond)
		if wait := suiteCheck(t, th, k); wait != 0 {
			t.Errorf("Check after the window = %v, want 0", wait)
		}
		suiteFail(t, th, 1, k)
		if wait := suiteCheck(t, th, k); wait != 0 {
			t.Errorf("Check after one failure in a new window = %v, want 0", wait)
		}
		// The new window counts afresh and blocks again at the limit.
		suiteFail(t, th, 1, k)
		if wait := suiteCheck(t, th, k); wait <= 0 || wait > k.Window {
			t.Errorf("Check at the limit of a new window = %v, want in (0, %v]", wait, k.Window)
		}
	})
}
