package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// PostgresPoolStats are the numbers of a pgxpool.Stat, copied so this
// package does not import the driver.
type PostgresPoolStats struct {
	AcquiredConns, IdleConns, TotalConns, MaxConns        int32
	AcquireCount, EmptyAcquireCount, CanceledAcquireCount int64
	AcquireDuration                                       time.Duration
}

// RedisPoolStats are the numbers of a go-redis PoolStats.
type RedisPoolStats struct {
	Hits, Misses, Timeouts, StaleConns uint32
	TotalConns, IdleConns              uint32
}

// NewPostgresPoolCollector reports the PostgreSQL connection pool as
// tokenserver_postgres_pool_*, calling stats at every scrape (pgxpool's
// Stat is cheap: a few atomic reads under the pool's lock).
func NewPostgresPoolCollector(stats func() PostgresPoolStats) prometheus.Collector {
	const sub = "postgres_pool"
	g, c := prometheus.GaugeValue, prometheus.CounterValue
	type S = PostgresPoolStats
	return &snapshotCollector[S]{stats: stats, metrics: []snapshotMetricDef[S]{
		snapshotMetric(sub, "acquired_conns", "Connections checked out of the pool now.", g, func(s S) float64 { return float64(s.AcquiredConns) }),
		snapshotMetric(sub, "idle_conns", "Idle connections in the pool now.", g, func(s S) float64 { return float64(s.IdleConns) }),
		snapshotMetric(sub, "total_conns", "Connections in the pool now (acquired, idle and being opened).", g, func(s S) float64 { return float64(s.TotalConns) }),
		snapshotMetric(sub, "max_conns", "Configured pool size (--db-max-conns).", g, func(s S) float64 { return float64(s.MaxConns) }),
		snapshotMetric(sub, "acquires_total", "Successful connection acquisitions.", c, func(s S) float64 { return float64(s.AcquireCount) }),
		snapshotMetric(sub, "empty_acquires_total", "Acquisitions that had to wait because the pool had no idle connection.", c, func(s S) float64 { return float64(s.EmptyAcquireCount) }),
		snapshotMetric(sub, "canceled_acquires_total", "Acquisitions abandoned because their context ended.", c, func(s S) float64 { return float64(s.CanceledAcquireCount) }),
		snapshotMetric(sub, "acquire_duration_seconds_total", "Total time spent acquiring connections.", c, func(s S) float64 { return s.AcquireDuration.Seconds() }),
	}}
}

// NewRedisPoolCollector reports the Redis connection pool as
// tokenserver_redis_pool_*, calling stats at every scrape.
func NewRedisPoolCollector(stats func() RedisPoolStats) prometheus.Collector {
	const sub = "redis_pool"
	g, c := prometheus.GaugeValue, prometheus.CounterValue
	type S = RedisPoolStats
	return &snapshotCollector[S]{stats: stats, metrics: []snapshotMetricDef[S]{
		snapshotMetric(sub, "hits_total", "Times a free connection was found in the pool.", c, func(s S) float64 { return float64(s.Hits) }),
		snapshotMetric(sub, "misses_total", "Times no free connection was found in the pool.", c, func(s S) float64 { return float64(s.Misses) }),
		snapshotMetric(sub, "timeouts_total", "Times waiting for a connection timed out.", c, func(s S) float64 { return float64(s.Timeouts) }),
		snapshotMetric(sub, "total_conns", "Connections in the pool now.", g, func(s S) float64 { return float64(s.TotalConns) }),
		snapshotMetric(sub, "idle_conns", "Idle connections in the pool now.", g, func(s S) float64 { return float64(s.IdleConns) }),
		snapshotMetric(sub, "stale_conns_total", "Stale connections removed from the pool.", c, func(s S) float64 { return float64(s.StaleConns) }),
	}}
}
