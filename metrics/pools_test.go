package metrics

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func TestPostgresPoolCollector(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	st := PostgresPoolStats{AcquiredConns: 2, IdleConns: 3, TotalConns: 5, MaxConns: 20,
		AcquireCount: 100, EmptyAcquireCount: 7, CanceledAcquireCount: 1, AcquireDuration: 1500 * time.Millisecond}
	reg.MustRegister(NewPostgresPoolCollector(func() PostgresPoolStats { return st }))
	compare(t, reg, `
# HELP tokenserver_postgres_pool_acquire_duration_seconds_total Total time spent acquiring connections.
# TYPE tokenserver_postgres_pool_acquire_duration_seconds_total counter
tokenserver_postgres_pool_acquire_duration_seconds_total 1.5
# HELP tokenserver_postgres_pool_acquired_conns Connections checked out of the pool now.
# TYPE tokenserver_postgres_pool_acquired_conns gauge
tokenserver_postgres_pool_acquired_conns 2
# HELP tokenserver_postgres_pool_acquires_total Successful connection acquisitions.
# TYPE tokenserver_postgres_pool_acquires_total counter
tokenserver_postgres_pool_acquires_total 100
# HELP tokenserver_postgres_pool_canceled_acquires_total Acquisitions abandoned because their context ended.
# TYPE tokenserver_postgres_pool_canceled_acquires_total counter
tokenserver_postgres_pool_canceled_acquires_total 1
# HELP tokenserver_postgres_pool_empty_acquires_total Acquisitions that had to wait because the pool had no idle connection.
# TYPE tokenserver_postgres_pool_empty_acquires_total counter
tokenserver_postgres_pool_empty_acquires_total 7
# HELP tokenserver_postgres_pool_idle_conns Idle connections in the pool now.
# TYPE tokenserver_postgres_pool_idle_conns gauge
tokenserver_postgres_pool_idle_conns 3
# HELP tokenserver_postgres_pool_max_conns Configured pool size (--db-max-conns).
# TYPE tokenserver_postgres_pool_max_conns gauge
tokenserver_postgres_pool_max_conns 20
# HELP tokenserver_postgres_pool_total_conns Connections in the pool now (acquired, idle and being opened).
# TYPE tokenserver_postgres_pool_total_conns gauge
tokenserver_postgres_pool_total_conns 5
`)
	// Read at every scrape.
	st.AcquireCount = 101
	compare(t, reg, `
# HELP tokenserver_postgres_pool_acquires_total Successful connection acquisitions.
# TYPE tokenserver_postgres_pool_acquires_total counter
tokenserver_postgres_pool_acquires_total 101
`, "tokenserver_postgres_pool_acquires_total")
	lint(t, reg)
}

func TestRedisPoolCollector(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(NewRedisPoolCollector(func() RedisPoolStats {
		return RedisPoolStats{Hits: 10, Misses: 2, Timeouts: 1, StaleConns: 4, TotalConns: 6, IdleConns: 5}
	}))
	compare(t, reg, `
# HELP tokenserver_redis_pool_hits_total Times a free connection was found in the pool.
# TYPE tokenserver_redis_pool_hits_total counter
tokenserver_redis_pool_hits_total 10
# HELP tokenserver_redis_pool_idle_conns Idle connections in the pool now.
# TYPE tokenserver_redis_pool_idle_conns gauge
tokenserver_redis_pool_idle_conns 5
# HELP tokenserver_redis_pool_misses_total Times no free connection was found in the pool.
# TYPE tokenserver_redis_pool_misses_total counter
tokenserver_redis_pool_misses_total 2
# HELP tokenserver_redis_pool_stale_conns_total Stale connections removed from the pool.
# TYPE tokenserver_redis_pool_stale_conns_total counter
tokenserver_redis_pool_stale_conns_total 4
# HELP tokenserver_redis_pool_timeouts_total Times waiting for a connection timed out.
# TYPE tokenserver_redis_pool_timeouts_total counter
tokenserver_redis_pool_timeouts_total 1
# HELP tokenserver_redis_pool_total_conns Connections in the pool now.
# TYPE tokenserver_redis_pool_total_conns gauge
tokenserver_redis_pool_total_conns 6
`)
	lint(t, reg)
}
