package storetest

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokenserver/tokenserver/store"
)

// suiteReserve reserves an attempt on keys and returns the wait (zero when
// reserved), failing on error.
func suiteReserve(t *testing.T, th store.LoginThrottle, keys ...store.ThrottleKey) time.Duration {
	t.Helper()
	wait, err := th.Reserve(t.Context(), keys)
	if err != nil {
		t.Fatalf("Reserve: %v", err)
	}
	if wait < 0 {
		t.Fatalf("Reserve = %v, want >= 0", wait)
	}
	return wait
}

// suiteReserveN makes n reservations on keys, each of which must succeed.
func suiteReserveN(t *testing.T, th store.LoginThrottle, n int, keys ...store.ThrottleKey) {
	t.Helper()
	for i := range n {
		if wait := suiteReserve(t, th, keys...); wait != 0 {
			t.Fatalf("Reserve %d of %d = %v, want 0", i+1, n, wait)
		}
	}
}

// suiteRelease gives back n reservations on keys, failing on error.
func suiteRelease(t *testing.T, th store.LoginThrottle, n int, keys ...store.ThrottleKey) {
	t.Helper()
	for range n {
		if err := th.Release(t.Context(), keys); err != nil {
			t.Fatalf("Release: %v", err)
		}
	}
}

// suiteRemaining counts how many more reservations k alone accepts, by
// making them (at most k.Limit+1 tries): k.Limit minus its count, or zero
// when the count is at or over the limit.
func suiteRemaining(t *testing.T, th store.LoginThrottle, k store.ThrottleKey) int {
	t.Helper()
	for n := 0; n <= k.Limit; n++ {
		if wait := suiteReserve(t, th, k); wait > 0 {
			return n
		}
	}
	t.Fatalf("key %q accepted %d reservations, more than its limit %d", k.Key, k.Limit+1, k.Limit)
	return -1
}

// suiteBlocked asserts that Reserve(keys) is refused with a wait in
// (lo, hi].
func suiteBlocked(t *testing.T, th store.LoginThrottle, lo, hi time.Duration, keys ...store.ThrottleKey) {
	t.Helper()
	if wait := suiteReserve(t, th, keys...); wait <= lo || wait > hi {
		t.Errorf("Reserve = %v, want a refusal in (%v, %v]", wait, lo, hi)
	}
}

// TestLoginThrottle runs the conformance suite for store.LoginThrottle.
// newThrottle must return a fresh throttle for each call. Windows pass in
// real time; the one case that waits for it runs in parallel.
func TestLoginThrottle(t *testing.T, newThrottle func(*testing.T) store.LoginThrottle) {
	key := func(t *testing.T, limit int, window time.Duration) store.ThrottleKey {
		return store.ThrottleKey{Key: suiteName(t, "user:"), Limit: limit, Window: window}
	}

	t.Run("NoKeys", func(t *testing.T) {
		th := newThrottle(t)
		if wait := suiteReserve(t, th); wait != 0 {
			t.Errorf("Reserve() = %v, want 0", wait)
		}
		suiteRelease(t, th, 1)
	})

	t.Run("UpToLimit", func(t *testing.T) {
		for _, limit := range []int{1, 3} {
			t.Run(fmt.Sprintf("Limit%d", limit), func(t *testing.T) {
				th := newThrottle(t)
				k := key(t, limit, time.Minute)
				suiteReserveN(t, th, limit, k)
				suiteBlocked(t, th, 0, k.Window, k)
				// A refusal counts nothing: still refused, still no more.
				suiteBlocked(t, th, 0, k.Window, k)
			})
		}
	})

	t.Run("ReleaseGivesBack", func(t *testing.T) {
		th := newThrottle(t)
		k := key(t, 2, time.Minute)
		suiteReserveN(t, th, 2, k)
		suiteRelease(t, th, 1, k)
		if n := suiteRemaining(t, th, k); n != 1 {
			t.Errorf("%d reservations after releasing 1 of 2, want 1", n)
		}
		suiteRelease(t, th, 2, k)
		if n := suiteRemaining(t, th, k); n != 2 {
			t.Errorf("%d reservations after releasing all, want 2", n)
		}
	})

	t.Run("ReleaseNeverBelowZero", func(t *testing.T) {
		th := newThrottle(t)
		k := key(t, 2, time.Minute)
		suiteRelease(t, th, 3, k) // nothing reserved
		suiteReserveN(t, th, 1, k)
		suiteRelease(t, th, 3, k) // more than reserved
		if n := suiteRemaining(t, th, k); n != 2 {
			t.Errorf("%d reservations after extra releases, want the limit 2 (no credit)", n)
		}
	})

	t.Run("RefusalReservesNothing", func(t *testing.T) {
		th := newThrottle(t)
		full, free := key(t, 1, time.Minute), key(t, 2, time.Minute)
		suiteReserveN(t, th, 1, full)
		for _, keys := range [][]store.ThrottleKey{{free, full}, {full, free}} {
			suiteBlocked(t, th, 0, full.Window, keys...)
		}
		if n := suiteRemaining(t, th, free); n != 2 {
			t.Errorf("free key: %d reservations left, want 2: a refused call counted on it", n)
		}
	})

	t.Run("KeysIndependent", func(t *testing.T) {
		th := newThrottle(t)
		a, b := key(t, 2, time.Minute), key(t, 2, time.Minute)
		suiteReserveN(t, th, 2, a)
		if n := suiteRemaining(t, th, b); n != 2 {
			t.Errorf("b: %d reservations, want 2: a's leaked", n)
		}
		suiteBlocked(t, th, 0, a.Window, a)
	})

	t.Run("ReserveCountsEveryKey", func(t *testing.T) {
		th := newThrottle(t)
		a, b := key(t, 2, time.Minute), key(t, 3, time.Minute)
		suiteReserveN(t, th, 2, a, b)
		suiteBlocked(t, th, 0, a.Window, a)
		if n := suiteRemaining(t, th, b); n != 1 {
			t.Errorf("b: %d reservations left, want 1", n)
		}
		suiteRelease(t, th, 1, a, b) // both counts drop
		if n := suiteRemaining(t, th, a); n != 1 {
			t.Errorf("a after Release: %d reservations left, want 1", n)
		}
	})

	t.Run("LongestWaitWins", func(t *testing.T) {
		th := newThrottle(t)
		short, long := key(t, 1, time.Minute), key(t, 1, time.Hour)
		suiteReserveN(t, th, 1, short, long)
		for _, keys := range [][]store.ThrottleKey{{short, long}, {long, short}} {
			suiteBlocked(t, th, short.Window, long.Window, keys...)
		}
	})

	// The login throttle's reason to exist: concurrent guesses must not all
	// pass a check before any is counted. One (user, IP) key and one IP key,
	// with the server's default limits.
	const parallel = 150
	t.Run("ConcurrentOneKeySet", func(t *testing.T) {
		th := newThrottle(t)
		user, ip := key(t, 5, time.Minute), key(t, 100, time.Minute)
		reserved, _ := suiteReserveParallel(t, th, parallel, func(int) []store.ThrottleKey {
			return []store.ThrottleKey{user, ip}
		})
		if reserved != user.Limit {
			t.Errorf("%d of %d parallel reservations succeeded, want exactly %d", reserved, parallel, user.Limit)
		}
		// The user key is exactly at its limit: one release makes room for
		// exactly one more (over the limit, it would make room for none).
		suiteRelease(t, th, 1, user)
		if n := suiteRemaining(t, th, user); n != 1 {
			t.Errorf("user key after one release: %d reservations, want 1", n)
		}
		// The IP key counts only the successes: refusals reserved nothing.
		if n := suiteRemaining(t, th, ip); n != ip.Limit-user.Limit {
			t.Errorf("IP key: %d reservations left, want %d", n, ip.Limit-user.Limit)
		}
	})

	t.Run("ConcurrentManyUsersOneIP", func(t *testing.T) {
		th := newThrottle(t)
		ip := key(t, 100, time.Minute)
		users := make([]store.ThrottleKey, parallel)
		for i := range users {
			users[i] = key(t, 5, time.Minute)
		}
		reserved, ok := suiteReserveParallel(t, th, parallel, func(i int) []store.ThrottleKey {
			return []store.ThrottleKey{users[i], ip}
		})
		if reserved != ip.Limit {
			t.Errorf("%d of %d parallel reservations succeeded, want exactly %d", reserved, parallel, ip.Limit)
		}
		suiteRelease(t, th, 1, ip)
		if n := suiteRemaining(t, th, ip); n != 1 {
			t.Errorf("IP key after one release: %d reservations, want 1", n)
		}
		for i, u := range users {
			want := u.Limit
			if ok[i] {
				want--
			}
			if n := suiteRemaining(t, th, u); n != want {
				t.Errorf("user %d (reserved %v): %d reservations left, want %d", i, ok[i], n, want)
			}
		}
	})

	t.Run("ConcurrentReserveRelease", func(t *testing.T) {
		th := newThrottle(t)
		user, ip := key(t, 5, time.Minute), key(t, 100, time.Minute)
		var inFlight, peak atomic.Int64
		start := make(chan struct{})
		var wg sync.WaitGroup
		for range parallel {
			wg.Go(func() {
				<-start
				keys := []store.ThrottleKey{user, ip}
				wait, err := th.Reserve(t.Context(), keys)
				if err != nil || wait > 0 {
					if err != nil {
						t.Errorf("Reserve: %v", err)
					}
					return
				}
				n := inFlight.Add(1)
				for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
				}
				inFlight.Add(-1)
				if err := th.Release(t.Context(), keys); err != nil {
					t.Errorf("Release: %v", err)
				}
			})
		}
		close(start)
		wg.Wait()
		if p := peak.Load(); p > int64(user.Limit) {
			t.Errorf("%d attempts held reservations at once, limit %d", p, user.Limit)
		}
		// Every reservation was given back: both keys are empty again.
		for name, k := range map[string]store.ThrottleKey{"user": user, "IP": ip} {
			if n := suiteRemaining(t, th, k); n != k.Limit {
				t.Errorf("%s key: %d reservations left after all were released, want %d", name, n, k.Limit)
			}
		}
	})

	t.Run("AllowedAgainAfterWindow", func(t *testing.T) {
		t.Parallel()
		th := newThrottle(t)
		k := key(t, 2, 500*time.Millisecond)
		suiteReserveN(t, th, 2, k)
		wait := suiteReserve(t, th, k)
		if wait <= 0 || wait > k.Window {
			t.Fatalf("Reserve at limit = %v, want in (0, %v]", wait, k.Window)
		}
		time.Sleep(wait + 200*time.Millisecond)
		// The new window counts afresh and refuses again at the limit.
		suiteReserveN(t, th, 2, k)
		suiteBlocked(t, th, 0, k.Window, k)
	})
}

// suiteReserveParallel starts n Reserve calls at once, keys(i) for the i-th,
// and returns how many reserved and which.
func suiteReserveParallel(t *testing.T, th store.LoginThrottle, n int, keys func(i int) []store.ThrottleKey) (int, []bool) {
	t.Helper()
	ok := make([]bool, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			wait, err := th.Reserve(t.Context(), keys(i))
			if err != nil {
				t.Errorf("Reserve %d: %v", i, err)
				return
			}
			ok[i] = wait == 0
		})
	}
	close(start)
	wg.Wait()
	reserved := 0
	for _, r := range ok {
		if r {
			reserved++
		}
	}
	return reserved, ok
}
