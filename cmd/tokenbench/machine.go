package main

import (
	"bufio"
	"bytes"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// machineInfo describes where a run happened, so figures from different
// machines are never compared as if alike.
type machineInfo struct {
	CPUModel   string `json:"cpu_model"`
	CPUs       int    `json:"cpus"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	MemoryMiB  int    `json:"memory_mib"`
	Kernel     string `json:"kernel"`
	GoVersion  string `json:"go_version"`
	OS         string `json:"os"`
	Arch       string `json:"arch"`
	// LoadAverage is the 1-minute load average before the run.
	LoadAverage float64 `json:"load_average_at_start"`
	// BusyPct is the share of all CPUs busy during one second before the
	// run: anything but a few percent means other work competes with the
	// benchmark and the figures are noisy.
	BusyPct float64 `json:"busy_pct_at_start"`
}

func describeMachine() machineInfo {
	m := machineInfo{CPUs: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), GoVersion: runtime.Version(),
		OS: runtime.GOOS, Arch: runtime.GOARCH}
	m.CPUModel = procField("/proc/cpuinfo", "model name")
	if kb, err := strconv.Atoi(strings.TrimSuffix(procField("/proc/meminfo", "MemTotal"), " kB")); err == nil {
		m.MemoryMiB = kb / 1024
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	m.LoadAverage = loadAverage()
	m.BusyPct = busyPercent(time.Second)
	return m
}

// busyPercent samples how busy all CPUs are over d.
func busyPercent(d time.Duration) float64 {
	busy0, total0, err0 := machineCPU()
	time.Sleep(d)
	busy1, total1, err1 := machineCPU()
	if err0 != nil || err1 != nil || total1 <= total0 {
		return 0
	}
	return 100 * float64(busy1-busy0) / float64(total1-total0)
}

// loadAverage returns the 1-minute load average, or 0 if unknown.
func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}

// procField returns the value of the first "name: value" line of a /proc file.
func procField(path, name string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == name {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
