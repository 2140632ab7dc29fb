package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// clockTick is the unit of utime and stime in /proc/<pid>/stat (USER_HZ,
// 100 on every Linux ABI Go supports).
const clockTick = 10 * time.Millisecond

// processCPU returns the user+system CPU time a process has used so far.
func processCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("tokenbench: cpu of %d: %w", pid, err)
	}
	return parseStatCPU(b)
}

// parseStatCPU reads utime and stime (fields 14 and 15) from a
// /proc/<pid>/stat line. The command name (field 2) may contain spaces and
// parentheses, so fields are counted from its last ')'.
func parseStatCPU(stat []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("tokenbench: malformed /proc stat")
	}
	f := strings.Fields(string(stat[i+1:]))
	// f[0] is field 3 (state), so field n is f[n-3].
	if len(f) < 13 {
		return 0, fmt.Errorf("tokenbench: short /proc stat")
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("tokenbench: malformed /proc stat times")
	}
	return time.Duration(utime+stime) * clockTick, nil
}

// memUsage is a process's resident set: now and the peak since start or since
// the last resetPeak.
type memUsage struct {
	RSS  uint64 // bytes (VmRSS)
	Peak uint64 // bytes (VmHWM)
}

// processMemory reads VmRSS and VmHWM from /proc/<pid>/status.
func processMemory(pid int) (memUsage, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return memUsage{}, fmt.Errorf("tokenbench: memory of %d: %w", pid, err)
	}
	return parseStatusMemory(b)
}

func parseStatusMemory(status []byte) (memUsage, error) {
	var m memUsage
	var found int
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || (name != "VmRSS" && name != "VmHWM") {
			continue
		}
		fields := strings.Fields(rest) // "12345 kB"
		if len(fields) != 2 || fields[1] != "kB" {
			return memUsage{}, fmt.Errorf("tokenbench: malformed %s line", name)
		}
		kb, err := strconv.ParseUint(fields[0], 10, 64)
		if err != nil {
			return memUsage{}, fmt.Errorf("tokenbench: malformed %s: %w", name, err)
		}
		if name == "VmRSS" {
			m.RSS = kb << 10
		} else {
			m.Peak = kb << 10
		}
		found++
	}
	if found != 2 {
		return memUsage{}, fmt.Errorf("tokenbench: VmRSS/VmHWM missing from /proc status")
	}
	return m, nil
}

// resetPeak resets a process's VmHWM to its current RSS (Linux ≥ 4.0), so
// the next reading is the peak of one phase only.
func resetPeak(pid int) error {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
}

// rssSampler polls a process's RSS while a phase runs. VmHWM is the
// authoritative peak; the sampled maximum backs it up where clear_refs is
// not allowed.
type rssSampler struct {
	pid  int
	stop context.CancelFunc
	done chan struct{}
	mu   sync.Mutex
	max  uint64
}

func startRSSSampler(ctx context.Context, pid int, every time.Duration) *rssSampler {
	ctx, cancel := context.WithCancel(ctx)
	s := &rssSampler{pid: pid, stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			if m, err := processMemory(pid); err == nil {
				s.mu.Lock()
				s.max = max(s.max, m.RSS)
				s.mu.Unlock()
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return s
}

// Stop ends sampling and returns the largest RSS seen, in bytes.
func (s *rssSampler) Stop() uint64 {
	s.stop()
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.max
}

// machineCPU returns the CPU time all CPUs have spent busy (user, nice,
// system, irq, softirq) and in total (busy, idle, iowait), from /proc/stat.
func machineCPU() (busy, total time.Duration, err error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, fmt.Errorf("tokenbench: /proc/stat: %w", err)
	}
	return parseMachineCPU(b)
}

func parseMachineCPU(stat []byte) (busy, total time.Duration, err error) {
	line, _, _ := bytes.Cut(stat, []byte("\n"))
	f := strings.Fields(string(line))
	if len(f) < 8 || f[0] != "cpu" {
		return 0, 0, fmt.Errorf("tokenbench: malformed /proc/stat")
	}
	var v [7]int64 // user nice system idle iowait irq softirq
	for i := range v {
		if v[i], err = strconv.ParseInt(f[i+1], 10, 64); err != nil {
			return 0, 0, fmt.Errorf("tokenbench: malformed /proc/stat: %w", err)
		}
	}
	busyTicks := v[0] + v[1] + v[2] + v[5] + v[6]
	return time.Duration(busyTicks) * clockTick, time.Duration(busyTicks+v[3]+v[4]) * clockTick, nil
}

// usage is what one phase cost: the server's CPU and peak RSS, the load
// generator's own CPU, and the whole machine's busy and total CPU time
// (the rest of busy is PostgreSQL, Redis and anything else running).
type usage struct {
	ServerCPU    time.Duration
	ServerPeak   uint64
	GeneratorCPU time.Duration
	MachineBusy  time.Duration
	MachineTotal time.Duration
}

// usageMeter measures one phase.
type usageMeter struct {
	pid      int
	start    usage // cumulative counters at the start
	sampler  *rssSampler
	resetHWM bool
}

func readCounters(pid int) (usage, error) {
	var u usage
	var err error
	if u.ServerCPU, err = processCPU(pid); err != nil {
		return u, err
	}
	if u.GeneratorCPU, err = processCPU(os.Getpid()); err != nil {
		return u, err
	}
	u.MachineBusy, u.MachineTotal, err = machineCPU()
	return u, err
}

// beginUsage resets the server's peak RSS and starts measuring.
func beginUsage(ctx context.Context, pid int) (*usageMeter, error) {
	m := &usageMeter{pid: pid, resetHWM: resetPeak(pid) == nil}
	start, err := readCounters(pid)
	if err != nil {
		return nil, err
	}
	m.start = start
	m.sampler = startRSSSampler(ctx, pid, 20*time.Millisecond)
	return m, nil
}

// end returns what the phase used since beginUsage.
func (m *usageMeter) end() (usage, error) {
	sampled := m.sampler.Stop()
	now, err := readCounters(m.pid)
	if err != nil {
		return usage{}, err
	}
	u := usage{
		ServerCPU:    now.ServerCPU - m.start.ServerCPU,
		GeneratorCPU: now.GeneratorCPU - m.start.GeneratorCPU,
		MachineBusy:  now.MachineBusy - m.start.MachineBusy,
		MachineTotal: now.MachineTotal - m.start.MachineTotal,
		ServerPeak:   sampled,
	}
	if m.resetHWM {
		if mem, err := processMemory(m.pid); err == nil {
			u.ServerPeak = max(u.ServerPeak, mem.Peak)
		}
	}
	return u, nil
}
