package cluster_test

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tokenserver/tokenserver/internal/e2etest"
)

// cluster is a running scripts/cluster.sh, described by its state file.
type cluster struct {
	t        *testing.T
	state    map[string]string
	lb       string   // the load balancer's URL, also the issuer
	nodes    []string // node URLs, a b c
	nodePIDs []int
	dir      string // the script's directory (logs/)
}

// requireBinaries skips the test when a program the cluster needs is not
// installed, except on CI (CI=true), where it fails: a skipped cluster test
// would hide a broken set-up (storetest's missing-binary policy).
func requireBinaries(t *testing.T) {
	t.Helper()
	need := map[string][]string{
		"haproxy":      {"/usr/sbin/haproxy", "/usr/local/sbin/haproxy"},
		"redis-server": nil,
		"redis-cli":    nil,
		"initdb":       mustGlob("/usr/lib/postgresql/*/bin/initdb"),
		"bash":         nil,
	}
	if os.Geteuid() == 0 {
		need["setpriv"] = nil // PostgreSQL runs as the postgres user
	}
	var missing []string
	for name, alternatives := range need {
		if _, err := exec.LookPath(name); err == nil {
			continue
		}
		found := false
		for _, p := range alternatives {
			if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
				found = true
			}
		}
		if !found {
			missing = append(missing, name)
		}
	}
	if len(missing) == 0 {
		return
	}
	msg := "cluster test needs " + strings.Join(missing, ", ") + " (run `make test-deps`, which installs them on Debian)"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

func mustGlob(pattern string) []string {
	m, _ := filepath.Glob(pattern)
	return m
}

// startCluster runs scripts/cluster.sh and waits until it has written its
// state file. At cleanup the script gets SIGTERM (it stops everything it
// started); if the test failed, the tails of the logs are printed first.
func startCluster(t *testing.T) *cluster {
	t.Helper()
	requireBinaries(t)
	script, err := filepath.Abs("../../scripts/cluster.sh")
	if err != nil {
		t.Fatal(err)
	}
	stateFile := filepath.Join(t.TempDir(), "cluster.env")
	var out e2etest.SyncBuffer
	cmd := exec.Command("bash", script, "--bin", serverBinary, "--state", stateFile)
	cmd.Env = scriptEnv()
	cmd.Stdout, cmd.Stderr = &out, &out
	// If this test binary dies, the script still gets to stop its processes.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start scripts/cluster.sh: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(90 * time.Second):
			t.Errorf("scripts/cluster.sh still running 90 s after SIGTERM; killing it\n%s", out.String())
			_ = cmd.Process.Kill()
			<-exited
		}
	})

	deadline := time.Now().Add(3 * time.Minute)
	for {
		if _, err := os.Stat(stateFile); err == nil {
			break
		}
		select {
		case <-exited:
			t.Fatalf("scripts/cluster.sh exited during start-up:\n%s", out.String())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("scripts/cluster.sh not up after 3 minutes:\n%s", out.String())
		}
	}
	state, err := readState(stateFile)
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{t: t, state: state, lb: state["CLUSTER_LB_URL"], dir: state["CLUSTER_DIR"],
		nodes: strings.Split(state["CLUSTER_NODE_URLS"], ",")}
	for _, p := range strings.Split(state["CLUSTER_NODE_PIDS"], ",") {
		pid, err := strconv.Atoi(p)
		if err != nil {
			t.Fatalf("state file: CLUSTER_NODE_PIDS %q: %v", state["CLUSTER_NODE_PIDS"], err)
		}
		c.nodePIDs = append(c.nodePIDs, pid)
	}
	if len(c.nodes) != 3 || len(c.nodePIDs) != 3 || c.lb == "" || c.dir == "" {
		t.Fatalf("state file is incomplete: %v", state)
	}
	t.Cleanup(func() {
		if t.Failed() {
			c.printLogs()
		}
	})
	return c
}

// scriptEnv is this process's environment without the server's settings, so
// a developer's TOKENSERVER_* or DATABASE_URL cannot reach the cluster.
func scriptEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "TOKENSERVER_") || name == "DATABASE_URL" || name == "REDIS_URL" {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// readState parses the script's `export KEY='value'` lines.
func readState(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	state := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(strings.TrimPrefix(line, "export "), "=")
		if !ok {
			return nil, errors.New("state file: unexpected line " + strconv.Quote(line))
		}
		state[k] = strings.Trim(v, "'")
	}
	return state, sc.Err()
}

// cli runs an admin command of the cluster's binary with the cluster's
// settings (what `. cluster.env` gives an operator).
func (c *cluster) cli(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, serverBinary, args...)
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + t.TempDir(),
		"DATABASE_URL=" + c.state["DATABASE_URL"],
		"REDIS_URL=" + c.state["REDIS_URL"],
		"TOKENSERVER_KEK=" + c.state["TOKENSERVER_KEK"],
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("tokenserver %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// printLogs logs the warnings and the tail of every process's log.
func (c *cluster) printLogs() {
	files, _ := filepath.Glob(filepath.Join(c.dir, "logs", "*.log"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
		var warn []string
		for _, l := range lines {
			if strings.Contains(l, "level=WARN") || strings.Contains(l, "level=ERROR") {
				warn = append(warn, l)
			}
		}
		c.t.Logf("%s: warnings and errors:\n%s\n%s: tail:\n%s", filepath.Base(f),
			strings.Join(tail(warn, 30), "\n"), filepath.Base(f), strings.Join(tail(lines, 25), "\n"))
	}
}

func tail(lines []string, n int) []string {
	if len(lines) > n {
		return lines[len(lines)-n:]
	}
	return lines
}

// waitUntil polls cond every 20 ms until it holds or bound passes (a hang
// detector, not a timing assertion) and reports whether it held.
func waitUntil(bound time.Duration, cond func() bool) bool {
	return e2etest.WaitUntil(bound, 20*time.Millisecond, cond)
}
