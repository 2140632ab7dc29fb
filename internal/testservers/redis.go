package testservers

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// RedisServer is one redis-server process on a loopback port, for tests and
// for the benchmark tool.
type RedisServer struct {
	// Addr is host:port of the server.
	Addr string

	bin     string
	port    int
	dir     string
	cluster bool // a one-node Redis Cluster owning every slot
	// monitor is "name host port" for a Sentinel; empty for a server.
	monitor string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
}

// StartRedisServer starts redis-server without persistence on a free loopback
// port and waits until it answers PING. The caller must call Stop. A missing
// binary is reported with an error wrapping ErrMissingBinary.
func StartRedisServer() (*RedisServer, error) {
	return startRedisServer(false)
}

// StartRedisClusterServer starts a one-node Redis Cluster (cluster mode,
// owning all 16384 slots), so cluster clients run their real code paths:
// slot routing, MULTI per slot, per-primary SCAN. The caller must call Stop.
func StartRedisClusterServer() (*RedisServer, error) {
	return startRedisServer(true)
}

// StartRedisSentinel starts a Redis Sentinel (redis-server --sentinel) that
// monitors the primary at primaryAddr under masterName with a quorum of one,
// so Sentinel clients resolve the primary through it. The caller must call
// Stop.
func StartRedisSentinel(primaryAddr, masterName string) (*RedisServer, error) {
	host, port, err := net.SplitHostPort(primaryAddr)
	if err != nil {
		return nil, fmt.Errorf("testservers: sentinel: %w", err)
	}
	return startRedis(func(s *RedisServer) { s.monitor = masterName + " " + host + " " + port })
}

func startRedisServer(cluster bool) (*RedisServer, error) {
	return startRedis(func(s *RedisServer) { s.cluster = cluster })
}

func startRedis(configure func(*RedisServer)) (*RedisServer, error) {
	bin, err := findBinary("redis-server")
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "testservers-redis-")
	if err != nil {
		return nil, fmt.Errorf("testservers: redis: %w", err)
	}
	s := &RedisServer{bin: bin, dir: dir}
	configure(s)
	// Another process may take the free port between freePort and the
	// server's bind; a few attempts make that race harmless.
	for attempt := 0; attempt < 3; attempt++ {
		if s.port, err = freePort(); err != nil {
			break
		}
		s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
		if err = s.start(); err == nil {
			return s, nil
		}
	}
	_ = os.RemoveAll(dir)
	return nil, err
}

// Stop kills the server and waits for it to exit. It is safe to call twice.
func (s *RedisServer) Stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.kill()
	return os.RemoveAll(s.dir)
}

// Restart kills the server (if running) and starts a fresh, empty one on the
// same port. It also starts a stopped server again.
func (s *RedisServer) Restart() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.kill()
	return s.start()
}

// kill stops the process, if running, and waits for it. Callers hold s.mu.
func (s *RedisServer) kill() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.done
	s.cmd = nil
}

// start launches redis-server on s.port and waits for +PONG. Callers hold
// s.mu (or own s exclusively).
func (s *RedisServer) start() error {
	if err := os.MkdirAll(s.dir, 0o700); err != nil { // Stop removed it
		return fmt.Errorf("testservers: redis: %w", err)
	}
	logPath := filepath.Join(s.dir, "redis.log")
	args := []string{
		"--port", strconv.Itoa(s.port),
		"--bind", "127.0.0.1",
		"--daemonize", "no",
		"--dir", s.dir,
		"--logfile", logPath,
	}
	switch {
	case s.monitor != "":
		// A Sentinel rewrites its config file, which must come first.
		conf := filepath.Join(s.dir, "sentinel.conf")
		if err := os.WriteFile(conf, []byte("sentinel monitor "+s.monitor+" 1\n"), 0o600); err != nil {
			return fmt.Errorf("testservers: sentinel config: %w", err)
		}
		args = append([]string{conf, "--sentinel"}, args...)
	default:
		args = append(args, "--save", "", "--appendonly", "no", "--maxmemory-policy", "noeviction")
		if s.cluster {
			args = append(args, "--cluster-enabled", "yes",
				"--cluster-config-file", filepath.Join(s.dir, "nodes.conf"))
		}
	}
	cmd := exec.Command(s.bin, args...)
	cmd.SysProcAttr = redisProcAttr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("testservers: start redis-server: %w", err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	s.cmd, s.done = cmd, done

	deadline := time.Now().Add(10 * time.Second)
	for {
		err := expectReply(s.Addr, "+PONG", "PING")
		if err == nil && s.cluster {
			err = s.claimSlots()
		}
		if err == nil {
			return nil
		}
		select {
		case <-done:
			s.cmd = nil
			return fmt.Errorf("testservers: redis-server exited during start-up: %s", tail(logPath))
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.kill()
			return fmt.Errorf("testservers: redis-server did not answer PING within 10s: %v; log: %s", err, tail(logPath))
		}
	}
}

// claimSlots assigns every slot to the one node (kept in nodes.conf across
// Restart) and reports an error until the cluster serves keys.
func (s *RedisServer) claimSlots() error {
	slots := []string{"CLUSTER", "ADDSLOTS"}
	for i := range 16384 {
		slots = append(slots, strconv.Itoa(i))
	}
	if err := expectReply(s.Addr, "+OK", slots...); err != nil && !strings.Contains(err.Error(), "already busy") {
		return err
	}
	// CLUSTERDOWN until the node has taken the slots; then a nil bulk.
	return expectReply(s.Addr, "$-1", "GET", "testservers:probe")
}

// tail returns the last lines of a log file, for error messages.
func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 5 {
		lines = lines[len(lines)-5:]
	}
	return strings.Join(lines, " | ")
}

// Flush deletes every key on the server (FLUSHALL).
func (s *RedisServer) Flush() error { return expectReply(s.Addr, "+OK", "FLUSHALL") }

// FlushURL sends FLUSHALL to the server of a redis:// URL, authenticating and
// selecting the database the URL names.
func FlushURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	if u.Scheme != "redis" {
		return fmt.Errorf("FlushRedis supports only redis:// TEST_REDIS_URL, not %s://", u.Scheme)
	}
	var cmds [][]string
	if pw, ok := u.User.Password(); ok {
		if name := u.User.Username(); name != "" {
			cmds = append(cmds, []string{"AUTH", name, pw})
		} else {
			cmds = append(cmds, []string{"AUTH", pw})
		}
	}
	if db := strings.Trim(u.Path, "/"); db != "" {
		cmds = append(cmds, []string{"SELECT", db})
	}
	return roundTrip(u.Host, append(cmds, []string{"FLUSHALL"}))
}

// expectReply sends one command over a fresh connection and checks that the
// reply line is want.
func expectReply(addr, want string, args ...string) error {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	line, err := command(conn, bufio.NewReader(conn), args)
	if err != nil {
		return err
	}
	if line != want {
		return fmt.Errorf("%s: got %q, want %q", args[0], line, want)
	}
	return nil
}

// roundTrip runs commands in order on one connection; each must reply with a
// status line (+...).
func roundTrip(addr string, cmds [][]string) error {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	rd := bufio.NewReader(conn)
	for _, args := range cmds {
		line, err := command(conn, rd, args)
		if err != nil {
			return err
		}
		if !strings.HasPrefix(line, "+") {
			return fmt.Errorf("%s: %s", args[0], line)
		}
	}
	return nil
}

// command writes args as a RESP array and returns the first reply line. The
// package speaks raw RESP so that it imports no Redis client.
func command(conn net.Conn, rd *bufio.Reader, args []string) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := conn.Write([]byte(b.String())); err != nil {
		return "", err
	}
	line, err := rd.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if strings.HasPrefix(line, "-") {
		return line, errors.New(line[1:])
	}
	return line, nil
}
