package metrics

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tokenserver/tokenserver/tokenserver/password"
)

// A real hasher feeds the histograms through its Observer, and its Stats
// feed the gauges.
func TestHashingFromAHasher(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	hm := NewHashing(reg)
	h, err := password.NewHasher(password.Config{
		Params:    password.Params{Memory: 64, Time: 1, Threads: 1, KeyLen: 16, SaltLen: 16},
		AllowWeak: true, MaxConcurrent: 3, Observer: hm,
	})
	if err != nil {
		t.Fatal(err)
	}
	hm.WatchStats(h.Stats)
	// NewHasher computes its dummy hash without the observer's slot path;
	// count from here.
	hashes, _ := histogram(t, reg, "tokenserver_password_hash_duration_seconds", nil)
	waits, _ := histogram(t, reg, "tokenserver_password_hash_wait_seconds", nil)
	encoded, err := h.Hash(context.Background(), "pw")
	if err != nil {
		t.Fatal(err)
	}
	if ok, _, err := h.Verify(context.Background(), "wrong", encoded); err != nil || ok {
		t.Fatalf("Verify = %v, %v", ok, err)
	}
	if n, _ := histogram(t, reg, "tokenserver_password_hash_duration_seconds", nil); n != hashes+2 {
		t.Errorf("hash duration samples %d, want %d", n, hashes+2)
	}
	// A free slot: two admissions, each waited exactly 0.
	if n, sum := histogram(t, reg, "tokenserver_password_hash_wait_seconds", nil); n != waits+2 || sum != 0 {
		t.Errorf("hash wait samples %d (sum %g), want %d (sum 0)", n, sum, waits+2)
	}
	compare(t, reg, `
# HELP tokenserver_password_hash_slots Password hashes that may be computed at once.
# TYPE tokenserver_password_hash_slots gauge
tokenserver_password_hash_slots 3
# HELP tokenserver_password_hash_slots_busy Hashing slots held now.
# TYPE tokenserver_password_hash_slots_busy gauge
tokenserver_password_hash_slots_busy 0
# HELP tokenserver_password_hash_queue_depth Logins waiting for a hashing slot now.
# TYPE tokenserver_password_hash_queue_depth gauge
tokenserver_password_hash_queue_depth 0
`, "tokenserver_password_hash_slots", "tokenserver_password_hash_slots_busy", "tokenserver_password_hash_queue_depth")
	lint(t, reg)
}

// The gauges read Stats at every scrape.
func TestHashingGaugesReadStats(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	hm := NewHashing(reg)
	st := password.Stats{Slots: 4, Busy: 3, Waiting: 2}
	hm.WatchStats(func() password.Stats { return st })
	want := func(slots, busy, waiting int) string {
		return "# HELP tokenserver_password_hash_queue_depth Logins waiting for a hashing slot now.\n" +
			"# TYPE tokenserver_password_hash_queue_depth gauge\n" +
			"tokenserver_password_hash_queue_depth " + strconv.Itoa(waiting) + "\n" +
			"# HELP tokenserver_password_hash_slots Password hashes that may be computed at once.\n" +
			"# TYPE tokenserver_password_hash_slots gauge\n" +
			"tokenserver_password_hash_slots " + strconv.Itoa(slots) + "\n" +
			"# HELP tokenserver_password_hash_slots_busy Hashing slots held now.\n" +
			"# TYPE tokenserver_password_hash_slots_busy gauge\n" +
			"tokenserver_password_hash_slots_busy " + strconv.Itoa(busy) + "\n"
	}
	names := []string{"tokenserver_password_hash_slots", "tokenserver_password_hash_slots_busy", "tokenserver_password_hash_queue_depth"}
	compare(t, reg, want(4, 3, 2), names...)
	st = password.Stats{Slots: 4, Busy: 1, Waiting: 0}
	compare(t, reg, want(4, 1, 0), names...)
}

// Every shed cause has a series from the start; Shed counts its cause,
// an unknown cause as "other", and queue waits of shed logins stay out of
// the wait histogram.
func TestHashingShed(t *testing.T) {
	tests := []struct {
		cause string
		label string
	}{
		{password.ShedPredictedWait, "predicted_wait"},
		{password.ShedQueueTimeout, "queue_timeout"},
		{password.ShedCanceled, "canceled"},
		{"something_new", "other"},
	}
	for _, tc := range tests {
		t.Run(tc.cause, func(t *testing.T) {
			reg := prometheus.NewPedanticRegistry()
			hm := NewHashing(reg)
			if n := testutil.CollectAndCount(hm.shed); n != 3 {
				t.Fatalf("%d shed series before any shed, want 3", n)
			}
			hm.Shed(context.Background(), tc.cause, time.Now(), time.Second)
			if got := testutil.ToFloat64(hm.shed.WithLabelValues(tc.label)); got != 1 {
				t.Errorf("logins_shed_total{cause=%q} = %g, want 1", tc.label, got)
			}
			if n, _ := histogram(t, reg, "tokenserver_password_hash_wait_seconds", nil); n != 0 {
				t.Errorf("a shed login added %d wait samples", n)
			}
		})
	}
}
