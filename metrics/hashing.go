package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tokenserver/tokenserver/tokenserver/password"
)

// Hashing is the password hasher's capacity metrics. It is the hasher's
// password.Observer (for the duration and wait histograms and the shed
// counter); WatchStats adds the gauges once the hasher exists.
type Hashing struct {
	reg      prometheus.Registerer
	duration prometheus.Histogram
	wait     prometheus.Histogram
	shed     *prometheus.CounterVec
}

var _ password.Observer = (*Hashing)(nil)

// NewHashing registers the hashing histograms and the shed counter with reg.
func NewHashing(reg prometheus.Registerer) *Hashing {
	h := &Hashing{
		reg: reg,
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: namespace, Name: "password_hash_duration_seconds",
			Help:    "Time one password hash computation took while holding a hashing slot.",
			Buckets: latencyBuckets(),
		}),
		wait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: namespace, Name: "password_hash_wait_seconds",
			Help:    "Time a login waited for a hashing slot before it got one (0 when one was free).",
			Buckets: latencyBuckets(),
		}),
		shed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "logins_shed_total",
			Help: "Logins refused a hashing slot (503 with Retry-After), by cause.",
		}, []string{"cause"}),
	}
	reg.MustRegister(h.duration, h.wait, h.shed)
	// Every cause exists from the start, so an alert on its rate sees zero.
	for _, c := range []string{password.ShedPredictedWait, password.ShedQueueTimeout, password.ShedCanceled} {
		h.shed.WithLabelValues(c)
	}
	return h
}

// Admitted implements password.Observer.
func (h *Hashing) Admitted(_ context.Context, _ time.Time, waited time.Duration) {
	h.wait.Observe(waited.Seconds())
}

// Shed implements password.Observer. The wait of a shed login is not in
// the wait histogram: it measures how long admitted logins queue.
func (h *Hashing) Shed(_ context.Context, cause string, _ time.Time, _ time.Duration) {
	switch cause {
	case password.ShedPredictedWait, password.ShedQueueTimeout, password.ShedCanceled:
	default:
		cause = "other"
	}
	h.shed.WithLabelValues(cause).Inc()
}

// Hashed implements password.Observer.
func (h *Hashing) Hashed(_ context.Context, _ time.Time, d time.Duration) {
	h.duration.Observe(d.Seconds())
}

// WatchStats registers the slot and queue gauges, read from stats (the
// hasher's Stats) at every scrape. Call it once, after the hasher is built
// (the hasher needs its Observer first).
func (h *Hashing) WatchStats(stats func() password.Stats) {
	gauge := func(name, help string, v func(password.Stats) int) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: namespace, Name: name, Help: help},
			func() float64 { return float64(v(stats())) })
	}
	h.reg.MustRegister(
		gauge("password_hash_slots", "Password hashes that may be computed at once.",
			func(s password.Stats) int { return s.Slots }),
		gauge("password_hash_slots_busy", "Hashing slots held now.",
			func(s password.Stats) int { return s.Busy }),
		gauge("password_hash_queue_depth", "Logins waiting for a hashing slot now.",
			func(s password.Stats) int { return s.Waiting }),
	)
}
