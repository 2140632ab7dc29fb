package testservers

import (
	"errors"
	"fmt"
	"syscall"
)

// Freeze stops the redis-server process with SIGSTOP: connections stay
// open, the kernel still accepts new ones, and nothing answers, as with a
// hung machine. Thaw resumes it; Stop and Restart work on a frozen server.
func (s *RedisServer) Freeze() error { return s.signal(syscall.SIGSTOP) }

// Thaw resumes a server stopped by Freeze.
func (s *RedisServer) Thaw() error { return s.signal(syscall.SIGCONT) }

func (s *RedisServer) signal(sig syscall.Signal) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return errors.New("testservers: redis-server is not running")
	}
	if err := s.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("testservers: redis %v: %w", sig, err)
	}
	return nil
}
