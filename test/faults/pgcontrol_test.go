package faults_test

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tokenserver/tokenserver/store/storetest"
)

// pgControl stops, restarts, freezes and thaws a PostgreSQL server that
// storetest.StartPostgresServer started, in place: same data directory, same
// port, same settings (read back from postmaster.opts), so clients only see
// the server go away and come back.
type pgControl struct {
	dataDir string
	binDir  string
	argv    []string // the postmaster's command line, from postmaster.opts
	port    string
	// cred runs the server as the owner of the data directory (the
	// "postgres" OS user when the tests run as root); nil means as we are.
	cred   *syscall.Credential
	frozen []int // PIDs stopped by freeze, postmaster first
}

func newPGControl(t *testing.T, srv *storetest.PostgresServer) *pgControl {
	t.Helper()
	dir := srv.DataDir()
	if dir == "" {
		t.Fatal("pgcontrol: needs a server started by storetest.StartPostgresServer")
	}
	opts, err := os.ReadFile(filepath.Join(dir, "postmaster.opts"))
	if err != nil {
		t.Fatalf("pgcontrol: %v", err)
	}
	argv := splitOpts(strings.TrimSpace(string(opts)))
	c := &pgControl{dataDir: dir, binDir: filepath.Dir(argv[0]), argv: argv}
	for i, a := range argv {
		if a == "-p" && i+1 < len(argv) {
			c.port = argv[i+1]
		}
	}
	if c.port == "" {
		t.Fatalf("pgcontrol: no -p in postmaster.opts: %q", opts)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatalf("pgcontrol: %v", err)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && os.Geteuid() == 0 && st.Uid != 0 {
		c.cred = &syscall.Credential{Uid: st.Uid, Gid: st.Gid, NoSetGroups: true}
	}
	// A failed test must not leave a stopped server behind: storetest's
	// Stop would wait for a frozen postmaster that never answers.
	t.Cleanup(c.thaw)
	return c
}

// splitOpts splits postmaster.opts: the binary, then double-quoted arguments.
func splitOpts(s string) []string {
	var out []string
	for len(s) > 0 {
		s = strings.TrimLeft(s, " ")
		if s == "" {
			break
		}
		if s[0] == '"' {
			end := strings.IndexByte(s[1:], '"')
			if end < 0 {
				out = append(out, s[1:])
				break
			}
			out = append(out, s[1:1+end])
			s = s[2+end:]
			continue
		}
		word, rest, _ := strings.Cut(s, " ")
		out = append(out, word)
		s = rest
	}
	return out
}

func (c *pgControl) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(c.binDir, name), args...)
	cmd.Dir = filepath.Dir(c.dataDir)
	if c.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
		cmd.Env = append(os.Environ(), "HOME="+filepath.Dir(c.dataDir))
	}
	return cmd
}

// stop shuts the server down the hard way (pg_ctl stop -m immediate): every
// connection drops at once, as when the host dies.
func (c *pgControl) stop(t *testing.T) {
	t.Helper()
	if out, err := c.command("pg_ctl", "stop", "-D", c.dataDir, "-m", "immediate", "-w", "-t", "60").CombinedOutput(); err != nil {
		t.Fatalf("pgcontrol: pg_ctl stop: %v\n%s", err, out)
	}
}

// start runs the postmaster again with its original command line and waits
// until it accepts connections (crash recovery included).
func (c *pgControl) start(t *testing.T) {
	t.Helper()
	logPath := filepath.Join(filepath.Dir(c.dataDir), "postgres-restart.log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o666)
	if err != nil {
		t.Fatalf("pgcontrol: %v", err)
	}
	defer logFile.Close()
	cmd := c.command(filepath.Base(c.argv[0]), c.argv[1:]...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatalf("pgcontrol: start postgres: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		check := c.command("pg_isready", "-q", "-h", "127.0.0.1", "-p", c.port, "-U", "postgres", "-d", "postgres", "-t", "1")
		if check.Run() == nil {
			return
		}
		select {
		case <-exited:
			b, _ := os.ReadFile(logPath)
			t.Fatalf("pgcontrol: postgres exited during restart:\n%s", b)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("pgcontrol: postgres not ready 60s after restart")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// postmasterPID reads the first line of postmaster.pid.
func (c *pgControl) postmasterPID() (int, error) {
	f, err := os.Open(filepath.Join(c.dataDir, "postmaster.pid"))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if !sc.Scan() {
		return 0, errors.New("empty postmaster.pid")
	}
	return strconv.Atoi(strings.TrimSpace(sc.Text()))
}

// children lists the processes whose parent is pid (from /proc).
func children(pid int) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so cut at ')'.
		i := strings.LastIndexByte(string(b), ')')
		if i < 0 {
			continue
		}
		fields := strings.Fields(string(b[i+1:]))
		if len(fields) > 1 {
			if ppid, _ := strconv.Atoi(fields[1]); ppid == pid {
				out = append(out, p)
			}
		}
	}
	return out
}

// freeze stops the postmaster (first, so it forks nothing new) and every
// child with SIGSTOP: connections stay open and nothing answers, like a
// database host that hangs.
func (c *pgControl) freeze(t *testing.T) {
	t.Helper()
	pid, err := c.postmasterPID()
	if err != nil {
		t.Fatalf("pgcontrol: freeze: %v", err)
	}
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatalf("pgcontrol: freeze postmaster %d: %v", pid, err)
	}
	c.frozen = append(c.frozen, pid)
	for _, child := range children(pid) {
		if err := syscall.Kill(child, syscall.SIGSTOP); err == nil {
			c.frozen = append(c.frozen, child)
		}
	}
}

// thaw resumes what freeze stopped, children first.
func (c *pgControl) thaw() {
	for i := len(c.frozen) - 1; i >= 0; i-- {
		_ = syscall.Kill(c.frozen[i], syscall.SIGCONT)
	}
	c.frozen = nil
}

func (c *pgControl) String() string { return fmt.Sprintf("postgres on port %s", c.port) }
