// Package faults_test drives a real tokenserver process on real PostgreSQL and
// Redis under bounded concurrent load, injects faults (Redis killed or
// flushed, PostgreSQL stopped or frozen, an emergency key rotation, password
// changes and disabled users racing logins) and checks the promises the
// server makes whatever happens: no revoked token accepted, no refresh
// family lost or duplicated, no 5xx but 503 with Retry-After, no request
// hanging, and recovery without help.
package faults_test

import (
	"fmt"
	"os"
	"testing"

	"github.com/tokenserver/tokenserver/internal/testbinary"
	"github.com/tokenserver/tokenserver/store/storetest"
)

// serverBinary is the tokenserver binary TestMain builds once for every
// scenario (a test binary's one shared input, set before any test runs).
var serverBinary string

func TestMain(m *testing.M) {
	bin, err := testbinary.Build("faults")
	if err != nil {
		fmt.Fprintln(os.Stderr, "faults:", err)
		os.Exit(1)
	}
	serverBinary = bin
	storetest.Main(m)
}
