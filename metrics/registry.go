// Package metrics exposes the token server's Prometheus metrics: request
// rates, errors and latencies (RED) from tokenserver.RequestRecord, password
// hashing capacity from password.Observer, connection pools, the revocation
// feed, signing keys and dependency health. Every metric has the prefix
// tokenserver_; no label ever holds a username, IP address, token or a
// client id outside the configured allowlist.
//
// The package reads the rest of the server only through funcs and seams it
// is handed, so it imports no concrete store.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// namespace prefixes every metric of this package.
const namespace = "tokenserver"

// NewRegistry returns a registry of its own (never the global default one,
// so tests and several servers in one process do not collide) holding the
// Go runtime and process collectors.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return reg
}

// latencyBuckets suit requests that take 1 ms to 1 s, with two more for the
// slow tail (a queued password hash, a database at its deadline).
func latencyBuckets() []float64 {
	return []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}
}
