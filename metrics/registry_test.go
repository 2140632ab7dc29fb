package metrics

import "testing"

// The registry carries the Go runtime and process collectors.
func TestNewRegistry(t *testing.T) {
	families, err := NewRegistry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, f := range families {
		have[f.GetName()] = true
	}
	for _, want := range []string{"go_goroutines", "process_cpu_seconds_total"} {
		if !have[want] {
			t.Errorf("no %s", want)
		}
	}
}
