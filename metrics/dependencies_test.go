package metrics

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// A dependency has a series once reported; names outside the set (the
// signing-key check, anything unexpected) make none.
func TestDependencies(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	d := NewDependencies(reg)
	compare(t, reg, "", "tokenserver_dependency_up")
	d.SetDependencyUp(DependencyPostgres, true)
	d.SetDependencyUp(DependencyRedis, true)
	d.SetDependencyUp(DependencyRedis, false)
	d.SetDependencyUp("10.0.0.7:6379", true)
	d.SetDependencyUp("signing key", false)
	compare(t, reg, `
# HELP tokenserver_dependency_up 1 when the dependency answered its last health check, else 0.
# TYPE tokenserver_dependency_up gauge
tokenserver_dependency_up{dependency="postgres"} 1
tokenserver_dependency_up{dependency="redis"} 0
`, "tokenserver_dependency_up")
	lint(t, reg)
}
