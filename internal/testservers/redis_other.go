//go:build !linux

package testservers

import "syscall"

// redisProcAttr has no parent-death signal outside Linux; Main stops the
// server after the tests.
func redisProcAttr() *syscall.SysProcAttr { return nil }
