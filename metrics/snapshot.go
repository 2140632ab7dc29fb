package metrics

import "github.com/prometheus/client_golang/prometheus"

// snapshotCollector reads a snapshot (pool stats, feed status) once per
// scrape and reports it as const metrics: the source keeps the numbers, so
// the collector keeps no state and never goes stale.
type snapshotCollector[S any] struct {
	stats   func() S
	metrics []snapshotMetricDef[S]
}

type snapshotMetricDef[S any] struct {
	desc  *prometheus.Desc
	kind  prometheus.ValueType
	value func(S) float64
}

func (c *snapshotCollector[S]) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range c.metrics {
		ch <- m.desc
	}
}

func (c *snapshotCollector[S]) Collect(ch chan<- prometheus.Metric) {
	s := c.stats()
	for _, m := range c.metrics {
		ch <- prometheus.MustNewConstMetric(m.desc, m.kind, m.value(s))
	}
}

func snapshotMetric[S any](subsystem, name, help string, kind prometheus.ValueType, value func(S) float64) snapshotMetricDef[S] {
	return snapshotMetricDef[S]{
		desc:  prometheus.NewDesc(prometheus.BuildFQName(namespace, subsystem, name), help, nil, nil),
		kind:  kind,
		value: value,
	}
}
