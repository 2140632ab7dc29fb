package testservers

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// Freeze stops every process of a server started by StartPostgresServer
// with SIGSTOP: the postmaster first (so it forks no new backend), then all
// its descendants. The cluster then looks like a hung machine: TCP
// connections stay open and the kernel still accepts new ones into the
// listen backlog, but nothing answers, and the server's own timeouts
// (statement_timeout) cannot fire. Call Thaw to resume it; Thaw before Stop.
func (s *PostgresServer) Freeze() error {
	pid, err := s.postmasterPID()
	if err != nil {
		return err
	}
	if err := stopAndWait(pid); err != nil {
		return fmt.Errorf("testservers: freeze postgres: %w", err)
	}
	// A child may have been forked while the postmaster was being stopped;
	// list again until a pass finds nothing still running.
	for range 10 {
		running := 0
		for _, child := range descendants(pid) {
			if state, err := procState(child); err != nil || halted(state) {
				continue // gone, already stopped, or exited (a zombie the stopped postmaster cannot reap)
			}
			running++
			if err := stopAndWait(child); err != nil && !errors.Is(err, syscall.ESRCH) {
				return fmt.Errorf("testservers: freeze postgres: %w", err)
			}
		}
		if running == 0 {
			return nil
		}
	}
	return errors.New("testservers: freeze postgres: processes keep appearing")
}

// Thaw resumes a server stopped by Freeze (SIGCONT to the postmaster and
// every descendant). It is harmless on a running server.
func (s *PostgresServer) Thaw() error {
	pid, err := s.postmasterPID()
	if err != nil {
		return err
	}
	for _, child := range descendants(pid) {
		_ = syscall.Kill(child, syscall.SIGCONT) // may have exited
	}
	if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
		return fmt.Errorf("testservers: thaw postgres: %w", err)
	}
	return nil
}

// postmasterPID reads the first line of the data directory's
// postmaster.pid.
func (s *PostgresServer) postmasterPID() (int, error) {
	if s.external {
		return 0, errors.New("testservers: cannot freeze or thaw a server this process did not start")
	}
	b, err := os.ReadFile(filepath.Join(s.dataDir, "postmaster.pid"))
	if err != nil {
		return 0, fmt.Errorf("testservers: postgres pid: %w", err)
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	pid, err := strconv.Atoi(string(bytes.TrimSpace(line)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("testservers: postgres pid: malformed postmaster.pid")
	}
	return pid, nil
}

// halted reports whether a process in this /proc state runs no more code:
// stopped (T, or t when traced), or exited and waiting to be reaped (Z, X) —
// a backend that exits after the postmaster was stopped stays a zombie
// until the thaw, and a zombie ignores SIGSTOP.
func halted(state byte) bool {
	return state == 'T' || state == 't' || state == 'Z' || state == 'X'
}

// stopAndWait sends SIGSTOP and waits until the kernel reports the process
// stopped, so a caller knows it runs no more code.
func stopAndWait(pid int) error {
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		return err
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		state, err := procState(pid)
		switch {
		case err != nil:
			return syscall.ESRCH // exited meanwhile
		case halted(state):
			return nil
		case time.Now().After(deadline):
			return fmt.Errorf("process %d did not stop (state %c)", pid, state)
		}
		time.Sleep(time.Millisecond)
	}
}

// descendants lists every process below pid, from /proc.
func descendants(pid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	children := map[int][]int{}
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, err := procParent(p); err == nil {
			children[ppid] = append(children[ppid], p)
		}
	}
	var out []int
	queue := []int{pid}
	for len(queue) > 0 {
		next := queue[0]
		queue = queue[1:]
		for _, c := range children[next] {
			out = append(out, c)
			queue = append(queue, c)
		}
	}
	return out
}

// procStat returns the fields of /proc/<pid>/stat after the command name
// (which may hold spaces and parentheses): state, ppid, ….
func procStat(pid int) ([][]byte, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return nil, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil, errors.New("malformed stat")
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 2 {
		return nil, errors.New("malformed stat")
	}
	return f, nil
}

func procState(pid int) (byte, error) {
	f, err := procStat(pid)
	if err != nil {
		return 0, err
	}
	return f[0][0], nil
}

func procParent(pid int) (int, error) {
	f, err := procStat(pid)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(string(f[1]))
}
