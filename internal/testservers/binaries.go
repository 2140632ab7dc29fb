// Package testservers starts throwaway PostgreSQL and Redis servers on
// loopback ports. store/storetest wraps it for tests (skipping or failing a
// testing.TB when a binary is missing); cmd/tokenbench uses it directly, so
// the benchmark is an ordinary program that does not link package testing.
package testservers

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
)

// ErrMissingBinary marks a server binary that is not installed.
var ErrMissingBinary = errors.New("testservers: binary not installed")

// findBinary looks name up in PATH, then under /usr/lib/postgresql/*/bin
// (newest version first), where Debian keeps the PostgreSQL server binaries.
func findBinary(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/" + name)
	sort.Sort(sort.Reverse(sort.StringSlice(matches)))
	for _, m := range matches {
		if fi, err := os.Stat(m); err == nil && !fi.IsDir() {
			return m, nil
		}
	}
	return "", fmt.Errorf("%w: %s", ErrMissingBinary, name)
}

// freePort asks the kernel for an unused loopback TCP port.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("testservers: free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
