package storetest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"sync"
	"testing"
)

// Servers started by this test binary, stopped by Main after the tests.
var (
	stopMu sync.Mutex
	stops  []func()
)

// registerStop arranges for stop to run when Main finishes.
func registerStop(stop func()) {
	stopMu.Lock()
	defer stopMu.Unlock()
	stops = append(stops, stop)
}

// Main runs the package's tests and then stops every server StartPostgres or
// StartRedis started. Use it in each package that needs real servers:
//
//	func TestMain(m *testing.M) { storetest.Main(m) }
func Main(m *testing.M) {
	code := m.Run()
	stopMu.Lock()
	for i := len(stops) - 1; i >= 0; i-- {
		stops[i]()
	}
	stops = nil
	stopMu.Unlock()
	os.Exit(code)
}

// errMissingBinary marks a server binary that is not installed.
var errMissingBinary = errors.New("storetest: binary not installed")

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
	return "", fmt.Errorf("%w: %s", errMissingBinary, name)
}

// skipOrFail skips the test when a server binary is missing, except on CI
// (CI=true), where a skipped integration test would hide a broken set-up.
func skipOrFail(t testing.TB, err error, install string) {
	t.Helper()
	if errors.Is(err, errMissingBinary) && os.Getenv("CI") != "true" {
		t.Skipf("%v; install %s (or run `make test`, which installs it on Debian) to run this test", err, install)
	}
	t.Fatalf("%v (install %s)", err, install)
}

// freePort asks the kernel for an unused loopback TCP port.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("storetest: free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
