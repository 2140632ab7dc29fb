package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tokenserver/tokenserver/keys"
	"github.com/tokenserver/tokenserver/metrics"
	"github.com/tokenserver/tokenserver/store"
	"github.com/tokenserver/tokenserver/tokenserver"
	"github.com/tokenserver/tokenserver/tokenserver/password"
)

// metricsFlags are the settings of the metrics listener.
type metricsFlags struct {
	addr    string
	pprof   bool
	clients listFlag
}

func (f *metricsFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.addr, "metrics-addr", "", "listen address of a separate listener serving GET /metrics (Prometheus); empty = off. Keep it off the public network")
	fs.BoolVar(&f.pprof, "pprof", false, "with --metrics-addr: serve net/http/pprof under /debug/pprof/ on the metrics listener (never on the public one)")
	fs.Var(&f.clients, "metrics-clients", "client ids that may appear as a metric's client label, comma-separated; others are counted as \"other\"")
}

func (f *metricsFlags) validate(bad func(flagName, format string, a ...any)) {
	if f.addr != "" {
		if _, _, err := net.SplitHostPort(f.addr); err != nil {
			bad("metrics-addr", "%v", err)
		}
	}
	if f.pprof && f.addr == "" {
		bad("pprof", "needs --metrics-addr: profiles are served only on the metrics listener")
	}
}

// serveMetrics is the metrics side of `serve`; nil when --metrics-addr is
// empty (then nothing is measured at all). Its hooks are nil-safe.
type serveMetrics struct {
	flags    metricsFlags
	reg      *prometheus.Registry
	requests *metrics.Requests
	hashing  *metrics.Hashing
	deps     *metrics.Dependencies
	lag      *metrics.PublishLag
}

func newServeMetrics(f metricsFlags) *serveMetrics {
	if f.addr == "" {
		return nil
	}
	reg := metrics.NewRegistry()
	return &serveMetrics{
		flags:    f,
		reg:      reg,
		requests: metrics.NewRequests(reg),
		hashing:  metrics.NewHashing(reg),
		deps:     metrics.NewDependencies(reg),
		lag:      metrics.NewPublishLag(reg),
	}
}

// registerer is where the security counters register; nil when metrics
// are off.
func (m *serveMetrics) registerer() prometheus.Registerer {
	if m == nil {
		return nil
	}
	return m.reg
}

// clients is the client-label allowlist (--metrics-clients).
func (m *serveMetrics) clients() []string {
	if m == nil {
		return nil
	}
	return m.flags.clients
}

// onRequest is tokenserver.Config.OnRequest.
func (m *serveMetrics) onRequest() func(context.Context, tokenserver.RequestRecord) {
	if m == nil {
		return nil
	}
	return m.requests.Observe
}

// hashObserver is password.Config.Observer.
func (m *serveMetrics) hashObserver() password.Observer {
	if m == nil {
		return nil
	}
	return m.hashing
}

// relayed is sessions.RelayConfig.Relayed.
func (m *serveMetrics) relayed() func(r store.Revocation, at time.Time) {
	if m == nil {
		return nil
	}
	return m.lag.Relayed
}

// setDependencyUp records a readiness check's outcome (postgres, redis).
func (m *serveMetrics) setDependencyUp(name string, up bool) {
	if m != nil {
		m.deps.SetDependencyUp(name, up)
	}
}

// watch registers the gauges read from the running parts at every scrape.
func (m *serveMetrics) watch(b *backends, srv *tokenserver.Server, hasher *password.Hasher, km *keys.Manager, now func() time.Time) {
	if m == nil {
		return
	}
	m.hashing.WatchStats(hasher.Stats)
	m.reg.MustRegister(
		metrics.NewFeedCollector(func() metrics.FeedStatus {
			st := metrics.FeedStatus{Subscribers: srv.RevocationStreams(), Healthy: true}
			if b.local != nil { // the embedded store's feed is in-process: always healthy
				healthy, last := b.local.Health()
				st.Healthy = healthy
				if !healthy {
					st.Staleness = max(now().Sub(last), 0)
				}
			}
			return st
		}),
		metrics.NewKeysCollector(func() metrics.KeyAges { return metrics.KeyAgesOf(km, now()) }),
	)
	if b.pg != nil {
		m.reg.MustRegister(metrics.NewPostgresPoolCollector(func() metrics.PostgresPoolStats {
			s := b.pg.PoolStat()
			return metrics.PostgresPoolStats{
				AcquiredConns: s.AcquiredConns(), IdleConns: s.IdleConns(), TotalConns: s.TotalConns(), MaxConns: s.MaxConns(),
				AcquireCount: s.AcquireCount(), EmptyAcquireCount: s.EmptyAcquireCount(),
				CanceledAcquireCount: s.CanceledAcquireCount(), AcquireDuration: s.AcquireDuration(),
			}
		}))
	}
	if b.rd != nil {
		m.reg.MustRegister(metrics.NewRedisPoolCollector(func() metrics.RedisPoolStats {
			s := b.rd.PoolStats()
			return metrics.RedisPoolStats{Hits: s.Hits, Misses: s.Misses, Timeouts: s.Timeouts,
				StaleConns: s.StaleConns, TotalConns: s.TotalConns, IdleConns: s.IdleConns}
		}))
	}
}

// handler serves GET /metrics from this server's registry and, with
// --pprof, the profiles. The pprof handlers are mounted here explicitly:
// importing net/http/pprof also registers them on http.DefaultServeMux,
// which nothing in this program serves.
func (m *serveMetrics) handler(logger *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.InstrumentMetricHandler(m.reg, promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorLog:            slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		Registry:            m.reg,
		MaxRequestsInFlight: 4,
		Timeout:             10 * time.Second,
	})))
	if m.flags.pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index) // also the named profiles: heap, goroutine, ...
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return mux
}

// start listens on --metrics-addr and serves until the returned shutdown
// is called (with the main server's shutdown context).
func (m *serveMetrics) start(logger *slog.Logger) (shutdown func(context.Context) error, err error) {
	if m == nil {
		return func(context.Context) error { return nil }, nil
	}
	ln, err := net.Listen("tcp", m.flags.addr)
	if err != nil {
		return nil, fmt.Errorf("--metrics-addr [%s]: %w", envName("metrics-addr"), err)
	}
	srv := &http.Server{
		Handler:           m.handler(logger),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		// Longer than a CPU profile's default 30 s, which pprof refuses to
		// take beyond the write timeout.
		WriteTimeout:   2 * time.Minute,
		IdleTimeout:    90 * time.Second,
		MaxHeaderBytes: 16 << 10,
		ErrorLog:       slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("metrics listener stopped", "err", err)
		}
	}()
	logger.Info("metrics listening", "addr", ln.Addr().String(), "pprof", m.flags.pprof)
	return srv.Shutdown, nil
}
