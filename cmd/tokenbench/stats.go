package main

import (
	"math"
	"slices"
	"time"
)

// sample is one completed request of a load phase.
type sample struct {
	latency time.Duration
	status  int // HTTP status; 0 for a transport error
}

// latencyStats summarises the latencies of a set of samples.
type latencyStats struct {
	Count int           `json:"count"`
	P50   time.Duration `json:"p50_ns"`
	P95   time.Duration `json:"p95_ns"`
	P99   time.Duration `json:"p99_ns"`
	Max   time.Duration `json:"max_ns"`
}

// percentile returns the nearest-rank p-th percentile (0 < p ≤ 100) of
// sorted latencies: the smallest value with at least p% of the samples at or
// below it. It returns 0 for no samples.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

// summarize computes the latency percentiles of the samples whose status
// keep accepts (all samples when keep is nil).
func summarize(samples []sample, keep func(status int) bool) latencyStats {
	lat := make([]time.Duration, 0, len(samples))
	for _, s := range samples {
		if keep == nil || keep(s.status) {
			lat = append(lat, s.latency)
		}
	}
	slices.Sort(lat)
	st := latencyStats{Count: len(lat)}
	if len(lat) > 0 {
		st.P50, st.P95, st.P99 = percentile(lat, 50), percentile(lat, 95), percentile(lat, 99)
		st.Max = lat[len(lat)-1]
	}
	return st
}

// Status classes of a load phase.
func isOK(status int) bool       { return status >= 200 && status < 300 }
func isRejected(status int) bool { return status == 429 || status == 503 }

// statusCounts counts samples per HTTP status; transport errors count as 0.
func statusCounts(samples []sample) map[int]int {
	m := map[int]int{}
	for _, s := range samples {
		m[s.status]++
	}
	return m
}
