package metrics

import "github.com/prometheus/client_golang/prometheus"

// Dependency names of tokenserver_dependency_up: the readiness checks.
const (
	DependencyPostgres = "postgres"
	DependencyRedis    = "redis"
)

// Dependencies is tokenserver_dependency_up: whether each backing service
// answered its last health check. The health checks set it.
type Dependencies struct {
	up *prometheus.GaugeVec
}

// NewDependencies registers tokenserver_dependency_up with reg. A
// dependency has a series once SetDependencyUp reported it (a server
// without Redis has no redis series, rather than a misleading 0).
func NewDependencies(reg prometheus.Registerer) *Dependencies {
	d := &Dependencies{up: prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: namespace, Name: "dependency_up",
		Help: "1 when the dependency answered its last health check, else 0.",
	}, []string{"dependency"})}
	reg.MustRegister(d.up)
	return d
}

// SetDependencyUp records the outcome of a dependency's health check. name
// is one of the Dependency* constants; any other is ignored
// (the label stays bounded).
func (d *Dependencies) SetDependencyUp(name string, up bool) {
	switch name {
	case DependencyPostgres, DependencyRedis:
	default:
		// Other readiness checks (the signing key) are not dependencies;
		// ignoring them keeps the label set to the two names.
		return
	}
	v := 0.0
	if up {
		v = 1
	}
	d.up.WithLabelValues(name).Set(v)
}
