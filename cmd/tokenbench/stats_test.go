package main

import (
	"testing"
	"time"
)

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

func TestPercentile(t *testing.T) {
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = ms(i + 1) // 1..100 ms
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one sample is every percentile", []time.Duration{ms(7)}, 99, ms(7)},
		{"p50 of 1..100", hundred, 50, ms(50)},
		{"p95 of 1..100", hundred, 95, ms(95)},
		{"p99 of 1..100", hundred, 99, ms(99)},
		{"p100 is the max", hundred, 100, ms(100)},
		{"nearest rank rounds up", []time.Duration{ms(1), ms(2), ms(3)}, 50, ms(2)},
		{"p99 of 10 is the max", hundred[:10], 99, ms(10)},
		{"tiny p is the min", hundred, 0.001, ms(1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := percentile(tt.sorted, tt.p); got != tt.want {
				t.Errorf("percentile(%v) = %v, want %v", tt.p, got, tt.want)
			}
		})
	}
}

func TestSummarizeFiltersAndSorts(t *testing.T) {
	samples := []sample{
		{ms(30), 200}, {ms(10), 200}, {ms(20), 200},
		{ms(500), 503}, {ms(400), 429},
		{ms(1000), 0},
	}
	ok := summarize(samples, isOK)
	if ok.Count != 3 || ok.P50 != ms(20) || ok.P99 != ms(30) || ok.Max != ms(30) {
		t.Errorf("ok = %+v, want 3 samples, p50 20ms, p99 = max = 30ms", ok)
	}
	rej := summarize(samples, isRejected)
	if rej.Count != 2 || rej.P50 != ms(400) || rej.Max != ms(500) {
		t.Errorf("rejected = %+v, want 2 samples, p50 400ms, max 500ms", rej)
	}
	all := summarize(samples, nil)
	if all.Count != 6 || all.Max != ms(1000) {
		t.Errorf("all = %+v, want 6 samples, max 1s", all)
	}
	if none := summarize(nil, nil); none != (latencyStats{}) {
		t.Errorf("no samples = %+v, want zero", none)
	}
}

func TestNewPhaseResultClassifiesStatuses(t *testing.T) {
	res := loadResult{
		Samples: []sample{{ms(1), 200}, {ms(2), 200}, {ms(3), 503}, {ms(4), 429}, {ms(5), 400}, {ms(6), 0}},
		Elapsed: 2 * time.Second,
		Dropped: 1,
	}
	p := newPhaseResult("x", "closed", 4, 0, res, usage{ServerCPU: 600 * time.Microsecond, ServerPeak: 64 << 20,
		GeneratorCPU: 300 * time.Microsecond, MachineBusy: 1200 * time.Microsecond, MachineTotal: 4800 * time.Microsecond})
	if p.Requests != 6 || p.OK != 2 || p.Rejected != 2 || p.Errors != 2 || p.Dropped != 1 {
		t.Errorf("counts = requests %d ok %d rejected %d errors %d dropped %d, want 6 2 2 2 1",
			p.Requests, p.OK, p.Rejected, p.Errors, p.Dropped)
	}
	if p.OKPerS != 1 {
		t.Errorf("OKPerS = %v, want 1 (2 OK in 2s)", p.OKPerS)
	}
	if p.ServerCPUPerRequestUS != 100 {
		t.Errorf("ServerCPUPerRequestUS = %v, want 100 (600µs over 6 requests)", p.ServerCPUPerRequestUS)
	}
	if p.GeneratorCPUPerRequestUS != 50 || p.OtherCPUPerRequestUS != 50 || p.MachineBusyPct != 25 {
		t.Errorf("generator %v other %v busy %v, want 50 µs, 50 µs (1200-600-300 over 6), 25%%",
			p.GeneratorCPUPerRequestUS, p.OtherCPUPerRequestUS, p.MachineBusyPct)
	}
	if p.ServerPeakRSSMiB != 64 {
		t.Errorf("ServerPeakRSSMiB = %v, want 64", p.ServerPeakRSSMiB)
	}
	if p.Statuses["transport_error"] != 1 || p.Statuses["503"] != 1 || p.Statuses["200"] != 2 {
		t.Errorf("Statuses = %v", p.Statuses)
	}
	if p.RejectedLatency == nil || p.RejectedLatency.P99 != 4 {
		t.Errorf("RejectedLatency = %+v, want p99 4ms", p.RejectedLatency)
	}
	if p.Latency.P99 != 2 {
		t.Errorf("Latency.P99 = %v, want 2 (of the OK answers only)", p.Latency.P99)
	}
}
