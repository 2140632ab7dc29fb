// Package e2etest holds the helpers shared by the tests that drive a token
// server from outside (cmd/tokenserver's end-to-end tests, test/faults,
// test/cluster, docs/examples): a goroutine-safe output buffer, a bounded
// poll, form POSTs with client authentication, and in-process resource
// servers following a push revocation feed. What is particular to one test
// package (its ledger, its retry policy, its poll interval) stays there.
//
// Test code only: it imports testing.
package e2etest
