package main

import (
	"context"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

func TestClosedLoopStopsAtMaxRequests(t *testing.T) {
	var calls atomic.Int64
	res := closedLoop(context.Background(), 4, bounds{MaxRequests: 100, MaxDuration: time.Minute},
		func(context.Context, int, int) (int, error) { calls.Add(1); return 200, nil })
	if len(res.Samples) != 100 || calls.Load() != 100 {
		t.Errorf("samples %d calls %d, want 100 each", len(res.Samples), calls.Load())
	}
}

// TestClosedLoopStopsAtMaxDuration runs in a synctest bubble (fake clock):
// two workers making 1 ms calls for 50 ms start exactly 50 calls each.
func TestClosedLoopStopsAtMaxDuration(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		res := closedLoop(context.Background(), 2, bounds{MaxRequests: 1 << 30, MaxDuration: 50 * time.Millisecond},
			func(context.Context, int, int) (int, error) { time.Sleep(time.Millisecond); return 200, nil })
		if len(res.Samples) != 100 || res.Elapsed != 50*time.Millisecond {
			t.Errorf("samples %d in %v, want 100 in 50ms", len(res.Samples), res.Elapsed)
		}
	})
}

func TestClosedLoopWorkerStops(t *testing.T) {
	var stops atomic.Int64
	res := closedLoop(context.Background(), 3, bounds{MaxRequests: 1000, MaxDuration: time.Minute},
		func(_ context.Context, w, _ int) (int, error) {
			if w == 0 {
				return 200, nil
			}
			stops.Add(1)
			return 0, errStopWorker
		})
	// Workers 1 and 2 stop at their first call (if they get one before
	// worker 0 has used the budget); stopping calls are not samples.
	if n := stops.Load(); n > 2 || len(res.Samples)+int(n) != 1000 {
		t.Errorf("samples %d + stops %d, want 1000 with at most 2 stops", len(res.Samples), n)
	}
	for _, s := range res.Samples {
		if s.status != 200 {
			t.Fatalf("a stopped call was recorded: %+v", s)
		}
	}
}

// TestOpenLoopRateAndInFlightBound runs the open loop in a synctest bubble:
// the clock is fake and only advances when every goroutine is blocked, so
// the 100 ms window passes exactly, arrival by arrival, while the calls
// stay blocked until the test releases them after the window. Nothing races
// a real timer.
func TestOpenLoopRateAndInFlightBound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const maxInFlight = 5
		const window = 100 * time.Millisecond
		var cur, peak atomic.Int64
		release := make(chan struct{})
		done := make(chan loadResult, 1)
		go func() {
			// 1000/s for 100 ms offers exactly 100 arrivals.
			done <- openLoop(context.Background(), 1000, maxInFlight, bounds{MaxRequests: 1 << 30, MaxDuration: window},
				func(context.Context, int, int) (int, error) {
					n := cur.Add(1)
					for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
					}
					<-release
					cur.Add(-1)
					return 503, nil
				})
		}()
		time.Sleep(2 * window) // fake time: returns once the bubble's clock has passed the window
		synctest.Wait()        // the loop has ended and waits for its calls
		if p, c := peak.Load(), cur.Load(); p != maxInFlight || c != maxInFlight {
			t.Errorf("peak %d, outstanding at the end of the window %d: want both at the bound %d", p, c, maxInFlight)
		}
		close(release)
		res := <-done
		if p := peak.Load(); p != maxInFlight {
			t.Errorf("peak concurrent calls %d, want the bound %d", p, maxInFlight)
		}
		// Arrivals beyond the bound are dropped, not queued: none of the
		// first calls finished within the window.
		if len(res.Samples) != maxInFlight || res.Dropped != 100-maxInFlight {
			t.Errorf("samples %d dropped %d, want %d and %d", len(res.Samples), res.Dropped, maxInFlight, 100-maxInFlight)
		}
		for _, s := range res.Samples {
			if s.status != 503 {
				t.Fatalf("sample %+v, want status 503", s)
			}
		}
	})
}
