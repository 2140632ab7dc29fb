package main

import (
	"os"
	"testing"
	"time"
)

func TestParseStatCPU(t *testing.T) {
	// A command name with spaces and parentheses; utime 250, stime 50 ticks.
	stat := []byte("4242 (token (server) x) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 50 0 0 20 0 8 0 100 0 0")
	got, err := parseStatCPU(stat)
	if err != nil {
		t.Fatal(err)
	}
	if want := 300 * clockTick; got != want {
		t.Errorf("cpu = %v, want %v", got, want)
	}
	for _, bad := range []string{"no paren", "1 (x) S 1 2", "1 (x) S 1 2 3 4 5 6 7 8 9 10 a b"} {
		if _, err := parseStatCPU([]byte(bad)); err == nil {
			t.Errorf("parseStatCPU(%q) = nil error", bad)
		}
	}
}

func TestParseStatusMemory(t *testing.T) {
	status := []byte("Name:\ttokenserver\nVmPeak:\t 900000 kB\nVmHWM:\t   40960 kB\nVmRSS:\t   20480 kB\nThreads:\t8\n")
	m, err := parseStatusMemory(status)
	if err != nil {
		t.Fatal(err)
	}
	if m.RSS != 20<<20 || m.Peak != 40<<20 {
		t.Errorf("memory = %+v, want RSS 20 MiB, peak 40 MiB", m)
	}
	if _, err := parseStatusMemory([]byte("VmRSS:\t1 kB\n")); err == nil {
		t.Error("missing VmHWM: nil error")
	}
	if _, err := parseStatusMemory([]byte("VmRSS:\t1 MB\nVmHWM:\t1 kB\n")); err == nil {
		t.Error("unexpected unit: nil error")
	}
}

// The real /proc of this process parses, and CPU time only grows.
func TestProcessUsageOfSelf(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	pid := os.Getpid()
	before, err := processCPU(pid)
	if err != nil {
		t.Fatal(err)
	}
	for end := time.Now().Add(30 * time.Millisecond); time.Now().Before(end); {
	}
	after, err := processCPU(pid)
	if err != nil {
		t.Fatal(err)
	}
	if after < before {
		t.Errorf("cpu went from %v to %v", before, after)
	}
	m, err := processMemory(pid)
	if err != nil {
		t.Fatal(err)
	}
	if m.RSS == 0 || m.Peak < m.RSS {
		t.Errorf("memory = %+v, want RSS > 0 and peak ≥ RSS", m)
	}
}

func TestParseMachineCPU(t *testing.T) {
	stat := []byte("cpu  100 5 50 800 20 3 2 7 0 0\ncpu0 50 2 25 400 10 1 1 3 0 0\n")
	busy, total, err := parseMachineCPU(stat)
	if err != nil {
		t.Fatal(err)
	}
	// busy = user+nice+system+irq+softirq; total adds idle and iowait (not steal).
	if busy != 160*clockTick || total != 980*clockTick {
		t.Errorf("busy %v total %v, want %v %v", busy, total, 160*clockTick, 980*clockTick)
	}
	if _, _, err := parseMachineCPU([]byte("intr 1 2 3\n")); err == nil {
		t.Error("no cpu line: nil error")
	}
}
