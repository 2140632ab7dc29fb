package storetest

import (
	"errors"
	"os"
	"sync"
	"testing"

	"github.com/tokenserver/tokenserver/internal/testservers"
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

// skipOrFail skips the test when a server binary is missing, except on CI
// (CI=true), where a skipped integration test would hide a broken set-up.
func skipOrFail(t testing.TB, err error, install string) {
	t.Helper()
	if errors.Is(err, testservers.ErrMissingBinary) && os.Getenv("CI") != "true" {
		t.Skipf("%v; install %s (or run `make test`, which installs it on Debian) to run this test", err, install)
	}
	t.Fatalf("%v (install %s)", err, install)
}
