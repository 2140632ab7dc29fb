package main

import (
	"runtime"
	"testing"
)

func TestProcsWithHeadroom(t *testing.T) {
	tests := []struct {
		name                  string
		procs, hashGoroutines int
		want                  int
	}{
		{"one slot per CPU", 2, 2, 3},
		{"more slots than CPUs", 2, 8, 3},
		{"two argon2id threads per slot", 4, 2 * 2, 5},
		{"fewer slots than CPUs leave a P already", 4, 2, 4},
		{"one CPU", 1, 1, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := procsWithHeadroom(tt.procs, tt.hashGoroutines); got != tt.want {
				t.Fatalf("procsWithHeadroom(%d, %d) = %d, want %d", tt.procs, tt.hashGoroutines, got, tt.want)
			}
		})
	}
}

func TestReserveSchedulerHeadroomKeepsTheOperatorsGOMAXPROCS(t *testing.T) {
	before := runtime.GOMAXPROCS(0)
	getenv := func(name string) string {
		if name == "GOMAXPROCS" {
			return "7"
		}
		return ""
	}
	reserveSchedulerHeadroom(getenv, 64, 1)
	if got := runtime.GOMAXPROCS(0); got != before {
		t.Fatalf("GOMAXPROCS changed from %d to %d although the environment sets it", before, got)
	}
}

func TestReserveSchedulerHeadroomIsIdempotent(t *testing.T) {
	t.Cleanup(func() { runtime.SetDefaultGOMAXPROCS() })
	none := func(string) string { return "" }
	runtime.SetDefaultGOMAXPROCS()
	def := runtime.GOMAXPROCS(0)
	for range 3 { // as three servers started in one process would
		reserveSchedulerHeadroom(none, def, 1)
	}
	if got := runtime.GOMAXPROCS(0); got != def+1 {
		t.Fatalf("GOMAXPROCS = %d after three servers with %d slots on %d Ps, want %d", got, def, def, def+1)
	}
}
