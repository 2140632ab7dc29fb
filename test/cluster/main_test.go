// Package cluster_test drives the three-node cluster of scripts/cluster.sh
// (PostgreSQL, Redis with Sentinel, three tokenserver processes, HAProxy in
// front; all plain processes on loopback ports): tokens move between nodes,
// revocations and key rotations reach every node, a node killed mid-stream
// loses no session, and a Sentinel failover keeps revocations and login
// throttling working without ever accepting a revoked token.
//
// The test runs the script itself (with --bin, the binary built here, and
// --state, where the script writes its ports, PIDs and credentials once
// everything is up), so the script is what the test proves.
package cluster_test

import (
	"fmt"
	"os"
	"testing"

	"github.com/tokenserver/tokenserver/internal/testbinary"
)

// serverBinary is the tokenserver binary TestMain builds once (a test
// binary's one shared input, set before any test runs).
var serverBinary string

func TestMain(m *testing.M) {
	bin, err := testbinary.Build("cluster")
	if err != nil {
		fmt.Fprintln(os.Stderr, "cluster:", err)
		os.Exit(1)
	}
	serverBinary = bin
	os.Exit(m.Run())
}
