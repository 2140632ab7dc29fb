package main

import (
	"context"
	"sync/atomic"
	"testing"
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

func TestClosedLoopStopsAtMaxDuration(t *testing.T) {
	start := time.Now()
	res := closedLoop(context.Background(), 2, bounds{MaxRequests: 1 << 30, MaxDuration: 50 * time.Millisecond},
		func(context.Context, int, int) (int, error) { time.Sleep(time.Millisecond); return 200, nil })
	if d := time.Since(start); d > time.Second {
		t.Errorf("ran %v, want about 50ms", d)
	}
	if len(res.Samples) == 0 {
		t.Error("no samples")
	}
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

func TestOpenLoopRateAndInFlightBound(t *testing.T) {
	release := make(chan struct{})
	var started atomic.Int64
	go func() { time.Sleep(100 * time.Millisecond); close(release) }()
	// 1000/s for 100ms offers 100 requests; only 5 may be outstanding and
	// none finishes before the window closes.
	res := openLoop(context.Background(), 1000, 5, bounds{MaxRequests: 1 << 30, MaxDuration: 100 * time.Millisecond},
		func(context.Context, int, int) (int, error) { started.Add(1); <-release; return 503, nil })
	if started.Load() != 5 || len(res.Samples) != 5 {
		t.Errorf("started %d samples %d, want 5", started.Load(), len(res.Samples))
	}
	if res.Dropped < 80 || res.Dropped > 100 {
		t.Errorf("dropped %d, want about 95", res.Dropped)
	}
}
