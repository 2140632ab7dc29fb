package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// profiler records a CPU profile of the server process during each phase
// with Linux perf (the server needs no profiling endpoint for it), and
// leaves a text report per phase next to the JSON results.
type profiler struct {
	outDir string
	prefix string // timestamp of the run
	log    func(format string, args ...any)
}

// recording is one running `perf record`.
type recording struct {
	cmd  *exec.Cmd
	data string
	name string
	out  bytes.Buffer
}

// start attaches perf to pid; a nil profiler or a missing perf records nothing.
func (p *profiler) start(ctx context.Context, pid int, phase string) *recording {
	if p == nil {
		return nil
	}
	perf, err := exec.LookPath("perf")
	if err != nil {
		p.log("  profile: perf not installed; no profile of %s\n", phase)
		return nil
	}
	name := p.prefix + "-" + strings.NewReplacer(" ", "-", ",", "").Replace(phase)
	r := &recording{data: filepath.Join(os.TempDir(), name+".perf.data"), name: name}
	// Frame pointers (Go's default on amd64 and arm64) give call graphs.
	r.cmd = exec.CommandContext(ctx, perf, "record", "-F", "997", "-g", "-p", strconv.Itoa(pid), "-o", r.data)
	r.cmd.Stdout, r.cmd.Stderr = &r.out, &r.out
	if err := r.cmd.Start(); err != nil {
		p.log("  profile: %v\n", err)
		return nil
	}
	time.Sleep(200 * time.Millisecond) // perf attaches asynchronously
	return r
}

// stop ends the recording and writes <out>/<run>-<phase>.perf.txt: the
// functions where the server spent its CPU, self time first.
func (p *profiler) stop(r *recording) {
	if p == nil || r == nil {
		return
	}
	_ = r.cmd.Process.Signal(syscall.SIGINT)
	_ = r.cmd.Wait()
	defer os.Remove(r.data)
	// Self time shows the hot leaves; inclusive time shows which of our
	// functions (grant handlers, store calls) they belong to.
	self, err := exec.Command("perf", "report", "--stdio", "--no-children", "-g", "none",
		"--percent-limit", "0.5", "--sort", "dso,symbol", "-i", r.data).Output()
	if err != nil {
		p.log("  profile: perf report: %v\n%s\n", err, r.out.String())
		return
	}
	inclusive, err := exec.Command("perf", "report", "--stdio", "--children", "-g", "none",
		"--percent-limit", "3", "--sort", "symbol", "-i", r.data).Output()
	if err != nil {
		p.log("  profile: perf report: %v\n", err)
		return
	}
	report := append(append([]byte("### self time\n"), self...), append([]byte("\n### inclusive time\n"), inclusive...)...)
	if err := os.MkdirAll(p.outDir, 0o755); err != nil {
		p.log("  profile: %v\n", err)
		return
	}
	path := filepath.Join(p.outDir, r.name+".perf.txt")
	if err := os.WriteFile(path, report, 0o644); err != nil {
		p.log("  profile: %v\n", err)
		return
	}
	p.log("  profile: %s\n", path)
}

func (p *profiler) String() string { return fmt.Sprintf("perf profiles in %s", p.outDir) }
