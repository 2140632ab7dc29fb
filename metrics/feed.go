package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tokenserver/tokenserver/store"
)

// FeedStatus is the revocation feed's state at a scrape.
type FeedStatus struct {
	// Subscribers is the number of open revocation streams (SSE).
	Subscribers int
	// Healthy: the feed vouches that it delivers every revocation (the
	// streams send heartbeats only then).
	Healthy bool
	// Staleness is how long ago the feed was last healthy; zero while it is.
	Staleness time.Duration
}

// NewFeedCollector reports the revocation feed as
// tokenserver_revocation_feed_{subscribers,healthy,staleness_seconds},
// calling status at every scrape.
func NewFeedCollector(status func() FeedStatus) prometheus.Collector {
	const sub = "revocation_feed"
	g := prometheus.GaugeValue
	return &snapshotCollector[FeedStatus]{stats: status, metrics: []snapshotMetricDef[FeedStatus]{
		snapshotMetric(sub, "subscribers", "Open revocation streams (SSE subscribers).", g,
			func(s FeedStatus) float64 { return float64(s.Subscribers) }),
		snapshotMetric(sub, "healthy", "1 while the revocation feed vouches it delivers every revocation, else 0.", g,
			func(s FeedStatus) float64 {
				if s.Healthy {
					return 1
				}
				return 0
			}),
		snapshotMetric(sub, "staleness_seconds", "Seconds since the revocation feed was last healthy; 0 while it is.", g,
			func(s FeedStatus) float64 { return s.Staleness.Seconds() }),
	}}
}

// PublishLag is tokenserver_revocation_publish_lag_seconds: how long after
// a revocation was recorded the relay had delivered it everywhere.
type PublishLag struct {
	lag prometheus.Histogram
}

// NewPublishLag registers the publish lag histogram with reg.
func NewPublishLag(reg prometheus.Registerer) *PublishLag {
	p := &PublishLag{lag: prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: namespace, Name: "revocation_publish_lag_seconds",
		Help: "Time from a revocation's durable record to its delivery by the relay (cache, pub/sub and local streams).",
		// The relay reads the log every 250 ms; the tail covers a Redis
		// outage the relay waits out.
		Buckets: []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300},
	})}
	reg.MustRegister(p.lag)
	return p
}

// Relayed observes one delivered revocation. It has the signature of
// sessions.RelayConfig.Relayed. The lag counts from the revocation's
// creation, or for a user (sub) entry revoked again from its latest
// NotBefore, since an entry revoked twice keeps its first CreatedAt.
func (p *PublishLag) Relayed(r store.Revocation, at time.Time) {
	since := r.CreatedAt
	if r.NotBefore.After(since) {
		since = r.NotBefore
	}
	if since.IsZero() {
		return
	}
	p.lag.Observe(max(at.Sub(since), 0).Seconds())
}
