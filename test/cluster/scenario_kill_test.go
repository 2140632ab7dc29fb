package cluster_test

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// sessions is how many sessions refresh at once through the balancer.
const sessions = 6

// kill -9 of node B while sessions refresh through HAProxy without pause:
// every refresh is answered 200, or with a retryable error the client
// retries with the same token; no session is lost (a refresh whose answer
// died with the node, retried on another node by HAProxy or by the client,
// is within the reuse leeway), and every session still refreshes
// afterwards at each surviving node.
func (e *env) testNodeKilled(t *testing.T) {
	c := e.c
	var (
		mu      sync.Mutex
		ok      = make([]int, sessions) // refreshes answered 200, per session
		retried = map[string]int{}      // retryable answers seen by the client
		lost    []string
		tokens  = make([]string, sessions)
	)
	for i := range tokens {
		tokens[i] = e.app.login(t, c.lb, e.user, e.password).RefreshToken
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	for i := range sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mu.Lock()
			rt := tokens[i]
			mu.Unlock()
			for {
				select {
				case <-done:
					return
				default:
				}
				r := e.app.refresh(c.lb, rt)
				mu.Lock()
				switch {
				case r.status == http.StatusOK:
					rt = r.RefreshToken
					tokens[i] = rt
					ok[i]++
				case r.retryable():
					retried[statusText(r.answer)]++
				default:
					lost = append(lost, statusText(r.answer)+": "+r.answer.String())
					mu.Unlock()
					return
				}
				mu.Unlock()
				if r.status != http.StatusOK {
					time.Sleep(50 * time.Millisecond)
				}
			}
		}()
	}
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			close(done)
			wg.Wait()
		}
	}
	defer stop()

	// every session refreshed at least n times (or one was lost)
	atLeast := func(n []int) func() bool {
		return func() bool {
			mu.Lock()
			defer mu.Unlock()
			if len(lost) > 0 {
				return true
			}
			for i := range ok {
				if ok[i] < n[i] {
					return false
				}
			}
			return true
		}
	}
	want := func(more int) []int {
		mu.Lock()
		defer mu.Unlock()
		n := make([]int, sessions)
		for i := range n {
			n[i] = ok[i] + more
		}
		return n
	}
	if !waitUntil(time.Minute, atLeast(want(5))) {
		t.Fatal("the sessions did not refresh 5 times each within a minute before the kill")
	}
	logFrom := haproxyLogSize(c)
	victim := c.nodePIDs[1]
	if err := syscall.Kill(victim, syscall.SIGKILL); err != nil {
		t.Fatalf("kill -9 node B: %v", err)
	}
	killed := time.Now()
	if !waitUntil(time.Minute, func() bool { return e.haproxyStatus(t, "b") == "DOWN" }) {
		t.Fatalf("HAProxy does not mark node B down a minute after its kill (status %q)", e.haproxyStatus(t, "b"))
	}
	markedDown := time.Since(killed)
	if !waitUntil(time.Minute, atLeast(want(10))) {
		t.Fatal("the sessions did not refresh 10 more times each within a minute after HAProxy marked node B down")
	}
	stop()

	mu.Lock()
	total := 0
	for _, n := range ok {
		total += n
	}
	var kinds []string
	for k, v := range retried {
		kinds = append(kinds, k+" ×"+strconv.Itoa(v))
	}
	sort.Strings(kinds)
	mu.Unlock()
	t.Logf("figure: node B killed: HAProxy marked it down %v later; %d refreshes answered 200 over %d sessions (run until %v after the kill); retryable answers the client retried: %v; requests HAProxy retried on another node: %d",
		markedDown.Round(time.Millisecond), total, sessions, time.Since(killed).Round(time.Millisecond), kinds, haproxyRetries(c, logFrom))
	if len(lost) > 0 {
		t.Fatalf("refresh answered with a non-retryable error (a session lost): %v", lost)
	}
	for i, rt := range tokens {
		for _, n := range []string{c.nodes[0], c.nodes[2], c.lb} {
			rt = e.app.mustRefresh(t, n, rt).RefreshToken
		}
		tokens[i] = rt
	}
}

func haproxyLogSize(c *cluster) int {
	b, _ := os.ReadFile(filepath.Join(c.dir, "logs", "haproxy.log"))
	return len(b)
}

// haproxyRetries counts the requests HAProxy's log, from byte from on,
// shows retried (the retries field of the httplog format, "+N" when
// redispatched to another node).
func haproxyRetries(c *cluster, from int) int {
	b, err := os.ReadFile(filepath.Join(c.dir, "logs", "haproxy.log"))
	if err != nil || len(b) < from {
		return -1
	}
	b = b[from:]
	// actconn/feconn/beconn/srv_conn/retries
	counts := regexp.MustCompile(`[A-Za-z-]{4} \d+/\d+/\d+/\d+/(\+?\d+) \d+/\d+ "`)
	n := 0
	for _, m := range counts.FindAllStringSubmatch(string(b), -1) {
		if m[1] != "0" {
			n++
		}
	}
	return n
}

// haproxyStatus is the status (UP, DOWN, ...) HAProxy's stats page gives the
// server name of the "ready" backend.
func (e *env) haproxyStatus(t *testing.T, name string) string {
	t.Helper()
	resp, err := e.app.hc.Get(e.c.state["CLUSTER_STATS_URL"] + ";csv")
	if err != nil {
		t.Fatalf("HAProxy stats: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("HAProxy stats: %v", err)
	}
	for _, line := range strings.Split(string(body), "\n") {
		f := strings.Split(line, ",")
		if len(f) > 17 && f[0] == "ready" && f[1] == name {
			return f[17]
		}
	}
	return ""
}
