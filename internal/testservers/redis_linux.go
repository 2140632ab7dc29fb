package testservers

import "syscall"

// redisProcAttr makes the kernel kill redis-server when the test binary dies
// without running Main's clean-up (a panic, a -timeout, a ^C), so no server is
// left behind.
func redisProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
