package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tokenserver/tokenserver/keys"
	"github.com/tokenserver/tokenserver/store"
)

// KeyAges are the signing keys' ages at a scrape.
type KeyAges struct {
	// Current is how long the signing key has signed (since it became
	// current: what scheduled rotation counts); HasCurrent false when
	// there is no signing key.
	Current    time.Duration
	HasCurrent bool
	// Next is how long ago the next key of the signing algorithm was
	// created; HasNext false when there is none (keys from PEM files).
	Next    time.Duration
	HasNext bool
	// MaxAge is the rotation period; zero when nothing rotates on a
	// schedule.
	MaxAge time.Duration
}

// KeyAgesOf reads a key manager's ages at now.
func KeyAgesOf(m *keys.Manager, now time.Time) KeyAges {
	a := KeyAges{MaxAge: m.RotationPeriod()}
	for _, k := range m.Keys() {
		switch {
		case k.Signing:
			since := k.ActivatesAt
			if since.IsZero() {
				since = k.CreatedAt
			}
			a.Current, a.HasCurrent = max(now.Sub(since), 0), true
		case k.State == store.KeyNext && k.Algorithm == m.Algorithm():
			a.Next, a.HasNext = max(now.Sub(k.CreatedAt), 0), true
		}
	}
	return a
}

// keysCollector reports tokenserver_signing_key_age_seconds{state} and
// tokenserver_signing_key_max_age_seconds.
type keysCollector struct {
	ages   func() KeyAges
	age    *prometheus.Desc
	maxAge *prometheus.Desc
}

// NewKeysCollector reports the signing keys' ages, calling ages at every
// scrape. A state without a key has no series.
func NewKeysCollector(ages func() KeyAges) prometheus.Collector {
	return &keysCollector{
		ages: ages,
		age: prometheus.NewDesc(prometheus.BuildFQName(namespace, "", "signing_key_age_seconds"),
			"Age of the signing key (state=current: since it started signing) and of the next key (state=next: since it was created).",
			[]string{"state"}, nil),
		maxAge: prometheus.NewDesc(prometheus.BuildFQName(namespace, "", "signing_key_max_age_seconds"),
			"Configured key rotation period: the current key is replaced at this age (0: no scheduled rotation).",
			nil, nil),
	}
}

func (c *keysCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.age
	ch <- c.maxAge
}

func (c *keysCollector) Collect(ch chan<- prometheus.Metric) {
	a := c.ages()
	if a.HasCurrent {
		ch <- prometheus.MustNewConstMetric(c.age, prometheus.GaugeValue, a.Current.Seconds(), "current")
	}
	if a.HasNext {
		ch <- prometheus.MustNewConstMetric(c.age, prometheus.GaugeValue, a.Next.Seconds(), "next")
	}
	ch <- prometheus.MustNewConstMetric(c.maxAge, prometheus.GaugeValue, a.MaxAge.Seconds())
}
