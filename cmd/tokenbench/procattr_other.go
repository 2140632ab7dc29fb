//go:build !linux

package main

import "syscall"

// childProcAttr: without Pdeathsig, servers are stopped by the deferred
// clean-up only. (The benchmark needs Linux's /proc anyway.)
func childProcAttr() *syscall.SysProcAttr { return nil }
