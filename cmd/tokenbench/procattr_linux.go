package main

import "syscall"

// childProcAttr makes the kernel kill a server we started if this process
// dies without cleaning up (a panic, ^C twice), so none is left behind.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
