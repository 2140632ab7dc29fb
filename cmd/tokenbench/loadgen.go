package main

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// doFunc performs request number i (0, 1, 2, … across the phase) for worker
// w (-1 in an open loop) and returns its HTTP status (0 for a transport
// error). It returns errStopWorker when the worker cannot go on (its refresh
// chain broke); that call is not recorded.
type doFunc func(ctx context.Context, w, i int) (status int, err error)

// errStopWorker ends a closed-loop worker early.
var errStopWorker = errors.New("tokenbench: worker stopped")

// bounds stop a load phase: whichever comes first.
type bounds struct {
	MaxRequests int
	MaxDuration time.Duration
}

// loadResult is what a load phase observed.
type loadResult struct {
	Samples []sample
	// Elapsed runs from the first request to the end of the last one.
	Elapsed time.Duration
	// Dropped counts open-loop arrivals that were not sent because
	// maxInFlight requests were already outstanding (the generator's own
	// bound, not the server's answer).
	Dropped int
}

// ok returns the number of 2xx answers.
func (r loadResult) ok() int {
	n := 0
	for _, s := range r.Samples {
		if isOK(s.status) {
			n++
		}
	}
	return n
}

// closedLoop runs workers that each send one request, wait for the answer,
// and send the next, until b.MaxRequests have been started or b.MaxDuration
// has passed. Requests in flight at the deadline are allowed to finish (they
// run under ctx, not under the deadline), so no connection is torn down and
// no refresh token is consumed without its answer being seen.
func closedLoop(ctx context.Context, workers int, b bounds, do doFunc) loadResult {
	var next atomic.Int64
	per := make([][]sample, workers)
	start := time.Now()
	deadline := start.Add(b.MaxDuration)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for ctx.Err() == nil && time.Now().Before(deadline) {
				i := int(next.Add(1)) - 1
				if i >= b.MaxRequests {
					return
				}
				t0 := time.Now()
				status, err := do(ctx, w, i)
				if errors.Is(err, errStopWorker) || ctx.Err() != nil {
					return
				}
				per[w] = append(per[w], sample{latency: time.Since(t0), status: status})
			}
		})
	}
	wg.Wait()
	res := loadResult{Elapsed: time.Since(start)}
	for _, s := range per {
		res.Samples = append(res.Samples, s...)
	}
	return res
}

// openLoop sends requests at a fixed rate regardless of how fast the server
// answers (so an overloaded server meets the full offered load), with at most
// maxInFlight outstanding, until b.MaxRequests have been scheduled or
// b.MaxDuration has passed. Latency is measured from each request's
// scheduled start, so a late generator does not hide server queueing.
func openLoop(ctx context.Context, rate float64, maxInFlight int, b bounds, do doFunc) loadResult {
	interval := time.Duration(float64(time.Second) / rate)
	inFlight := make(chan struct{}, maxInFlight)
	var (
		mu      sync.Mutex
		samples []sample
		dropped int
		wg      sync.WaitGroup
	)
	start := time.Now()
	deadline := start.Add(b.MaxDuration)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for i := 0; i < b.MaxRequests; i++ {
		at := start.Add(time.Duration(i) * interval)
		if !at.Before(deadline) {
			break
		}
		if wait := time.Until(at); wait > 0 {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
			case <-timer.C:
			}
		}
		if ctx.Err() != nil {
			break
		}
		select {
		case inFlight <- struct{}{}:
		default:
			dropped++
			continue
		}
		wg.Go(func() {
			defer func() { <-inFlight }()
			status, err := do(ctx, -1, i)
			if errors.Is(err, errStopWorker) {
				mu.Lock()
				dropped++
				mu.Unlock()
				return
			}
			s := sample{latency: time.Since(at), status: status}
			mu.Lock()
			samples = append(samples, s)
			mu.Unlock()
		})
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	return loadResult{Samples: samples, Elapsed: time.Since(start), Dropped: dropped}
}
