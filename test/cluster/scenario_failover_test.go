package cluster_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/tokenserver/tokenserver/internal/e2etest"
)

// failoverBound is how long Sentinel may take to promote the replica, and
// the nodes to follow, before the test calls the failover stuck (with
// down-after-milliseconds 2000 and failover-timeout 4000 it takes seconds).
const failoverBound = 60 * time.Second

// Sentinel failover: the Redis primary is frozen (SIGSTOP: a hung machine,
// the harder case, since connections stay open and calls time out), the
// sentinels promote the replica, and the nodes follow. Throughout, revoked
// tokens are presented to every node's /introspect and to both verifiers
// and must never be accepted, while a session refreshes through the
// balancer. After the switch, a new revocation reaches every node and both
// verifiers (the Redis one through the new primary), and login throttling
// counts across the nodes in the new primary.
func (e *env) testSentinelFailover(t *testing.T) {
	c := e.c
	rds := redisResourceServer(t, c.lb, c.state["REDIS_URL"])
	sentinel := goredis.NewSentinelClient(&goredis.Options{Addr: strings.Split(c.state["CLUSTER_SENTINELS"], ",")[0]})
	t.Cleanup(func() { sentinel.Close() })
	master := func() string {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		hp, err := sentinel.GetMasterAddrByName(ctx, c.state["CLUSTER_SENTINEL_MASTER"]).Result()
		if err != nil || len(hp) != 2 {
			return ""
		}
		return net.JoinHostPort(hp[0], hp[1])
	}
	oldPrimary, replica := c.state["CLUSTER_REDIS_PRIMARY"], c.state["CLUSTER_REDIS_REPLICA"]
	if m := master(); m != oldPrimary {
		t.Fatalf("sentinel names %q as the primary, want %s", m, oldPrimary)
	}
	primaryPID, err := strconv.Atoi(c.state["CLUSTER_REDIS_PRIMARY_PID"])
	if err != nil {
		t.Fatal(err)
	}

	// Tokens revoked before the fault: an access token (jti) and a session
	// (sid), revoked at different nodes.
	s1 := e.app.login(t, c.lb, e.user, e.password)
	e.app.mustRevoke(t, c.nodes[0], s1.AccessToken, "")
	s2 := e.app.login(t, c.lb, e.user, e.password)
	e.app.mustRevoke(t, c.nodes[1], s2.RefreshToken, "refresh_token")
	revoked := []string{s1.AccessToken, s2.AccessToken}
	verifiers := []*resourceServer{e.sse, rds}
	for _, rs := range verifiers {
		for _, tok := range revoked {
			if !waitUntil(feedBound, func() bool { return rs.verify(tok) != nil }) {
				t.Fatalf("%s accepts a revoked token before the fault", rs.name)
			}
		}
	}

	live := e.app.login(t, c.lb, e.user, e.password)
	w := startFailoverWatch(e, revoked, verifiers, live.RefreshToken)
	defer w.stop()
	w.waitRounds(t, 3)
	w.waitRefreshes(t, 3)

	// The fault.
	frozen := time.Now()
	if err := syscall.Kill(primaryPID, syscall.SIGSTOP); err != nil {
		t.Fatalf("SIGSTOP the Redis primary: %v", err)
	}
	resumed := false
	resume := func() {
		if !resumed {
			resumed = true
			_ = syscall.Kill(primaryPID, syscall.SIGCONT)
		}
	}
	defer resume()
	w.mark("fault")

	if !waitUntil(failoverBound, func() bool { return master() == replica }) {
		t.Fatalf("sentinels did not promote the replica %s within %v (primary now %q)", replica, failoverBound, master())
	}
	promoted := time.Since(frozen)
	w.mark("promoted")
	if !waitUntil(failoverBound, func() bool { return e.allNodesRedisReady() }) {
		t.Fatalf("the nodes do not report Redis ready %v after the promotion", failoverBound)
	}
	recovered := time.Since(frozen)
	w.mark("recovered")

	// Traffic after the switch, then the promises that need the new primary.
	w.waitRounds(t, 5)
	w.waitRefreshes(t, 5)
	e.revocationAfterFailover(t, rds)
	e.throttleAfterFailover(t)

	// The old primary comes back (a machine that was paused) and becomes a
	// replica of the new one.
	resume()
	oldClient := goredis.NewClient(&goredis.Options{Addr: oldPrimary})
	defer oldClient.Close()
	if !waitUntil(failoverBound, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		info, err := oldClient.Info(ctx, "replication").Result()
		return err == nil && strings.Contains(info, "role:slave") && strings.Contains(info, "master_link_status:up")
	}) {
		t.Errorf("the old primary %s did not rejoin as a replica within %v", oldPrimary, failoverBound)
	}
	w.mark("old primary rejoined")
	w.waitRounds(t, 3)
	w.stop()

	t.Logf("figure: Sentinel failover: replica promoted %v after the primary froze; every node's Redis ready again after %v",
		promoted.Round(time.Millisecond), recovered.Round(time.Millisecond))
	w.report(t)
}

// allNodesRedisReady reports whether every node's /readyz says its Redis
// answers: 200 without a redis line (readiness that includes Redis), or a
// body saying `redis: ok` (readiness that names each check).
func (e *env) allNodesRedisReady() bool {
	for _, n := range e.c.nodes {
		resp, err := e.app.hc.Get(n + "/readyz")
		if err != nil {
			return false
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		ok := resp.StatusCode == http.StatusOK && !strings.Contains(string(body), "redis:") || strings.Contains(string(body), "redis: ok")
		if !ok {
			return false
		}
	}
	return true
}

// revocationAfterFailover: a token revoked at node B after the switch is
// rejected by every node's /introspect and by both verifiers, the Redis one
// getting it from the new primary.
func (e *env) revocationAfterFailover(t *testing.T, rds *resourceServer) {
	t.Helper()
	tk := e.app.login(t, e.c.lb, e.user, e.password)
	for _, rs := range []*resourceServer{e.sse, rds} {
		if !waitUntil(feedBound, func() bool { return rs.verify(tk.AccessToken) == nil }) {
			t.Errorf("after the failover, %s does not accept a fresh token within %v: %v", rs.name, feedBound, rs.verify(tk.AccessToken))
		}
	}
	e.app.mustRevoke(t, e.c.nodes[1], tk.AccessToken, "")
	revoked := time.Now()
	for _, n := range e.c.nodes {
		if r, active := e.app.introspect(n, tk.AccessToken); r.status != http.StatusOK || active {
			t.Errorf("after the failover, %s /introspect of a token revoked at B: want 200 inactive, got %v (active %v)", n, r, active)
		}
	}
	for _, rs := range []*resourceServer{e.sse, rds} {
		if !waitUntil(feedBound, func() bool { return rs.verify(tk.AccessToken) != nil }) {
			t.Errorf("after the failover, %s still accepts a token revoked at B %v later", rs.name, feedBound)
			continue
		}
		t.Logf("figure: after the failover, %s rejects a token revoked at B %v later", rs.name, time.Since(revoked).Round(time.Millisecond))
	}
}

// throttleAfterFailover: failed logins for one username made at the three
// nodes count together (in the new primary: a node counting locally, as it
// does while Redis errs, would see only its own), so the attempt after the
// limit (5, the default) is refused with 429 at any node.
func (e *env) throttleAfterFailover(t *testing.T) {
	t.Helper()
	b := make([]byte, 6)
	rand.Read(b)
	name := "nobody-" + hex.EncodeToString(b)
	const limit = 5 // --throttle-user-failures default
	for i := range limit {
		n := e.c.nodes[i%3]
		if r := e.app.password(n, name, "wrong-password"); r.status != http.StatusBadRequest || r.errCode != "invalid_grant" {
			t.Fatalf("after the failover, failed login %d at %s: want 400 invalid_grant, got %v", i+1, n, r.answer)
		}
	}
	for _, n := range []string{e.c.nodes[2], e.c.lb} {
		r := e.app.password(n, name, "wrong-password")
		if r.status != http.StatusTooManyRequests || r.errCode != "temporarily_unavailable" || r.header.Get("Retry-After") == "" ||
			r.header.Get("Cache-Control") != "no-store" {
			t.Errorf("after the failover, login %d for one username over the three nodes at %s: want 429 temporarily_unavailable with Retry-After and no-store, got %v (headers %v)",
				limit+1, n, r.answer, r.header)
		}
	}
}

// failoverWatch presents the revoked tokens to every node's /introspect
// and to every verifier (one checker each, without pause, so a slow node
// does not hold up the others) and refreshes a session through the
// balancer, counting what it sees in each phase of the failover.
type failoverWatch struct {
	e        *env
	revoked  []string
	rss      []*resourceServer
	done     chan struct{}
	wg       sync.WaitGroup
	stopOnce sync.Once

	mu           sync.Mutex
	phase        string
	rounds       map[string]int // checker -> rounds over every revoked token in the current phase
	checks       map[string]int // phase -> revoked-token checks
	accepted     []string       // revoked tokens accepted (must stay empty)
	nonOK        map[string]map[string]int
	refreshes    map[string]int // phase -> refreshes answered 200
	lostReason   string         // a refresh answered with a non-retryable error
	slowest      map[string]time.Duration
	checkerNames []string
}

func startFailoverWatch(e *env, revoked []string, rss []*resourceServer, refreshToken string) *failoverWatch {
	w := &failoverWatch{e: e, revoked: revoked, rss: rss, done: make(chan struct{}), phase: "before",
		rounds: map[string]int{}, checks: map[string]int{}, nonOK: map[string]map[string]int{},
		refreshes: map[string]int{}, slowest: map[string]time.Duration{}}
	for _, n := range e.c.nodes {
		w.startChecker(n+" /introspect", func(tok string) (bool, answer) {
			r, active := e.app.introspect(n, tok)
			return r.status == http.StatusOK && active, r
		})
	}
	for _, rs := range rss {
		w.startChecker(rs.name, func(tok string) (bool, answer) { return rs.verify(tok) == nil, answer{status: http.StatusOK} })
	}
	w.wg.Add(1)
	go w.refreshLoop(refreshToken)
	return w
}

func (w *failoverWatch) stop() {
	w.stopOnce.Do(func() { close(w.done); w.wg.Wait() })
}

// mark starts a new phase of the counts.
func (w *failoverWatch) mark(phase string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.phase = phase
	clear(w.rounds)
}

// waitRounds waits until every checker has done n full rounds in the
// current phase (every revoked token).
func (w *failoverWatch) waitRounds(t *testing.T, n int) {
	t.Helper()
	if !waitUntil(failoverBound, func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		for _, name := range w.checkerNames {
			if w.rounds[name] < n {
				return false
			}
		}
		return true
	}) {
		t.Fatalf("the revoked-token checkers did not complete %d rounds within %v", n, failoverBound)
	}
}

// waitRefreshes waits until n refreshes were answered 200 in the current
// phase.
func (w *failoverWatch) waitRefreshes(t *testing.T, n int) {
	t.Helper()
	if !waitUntil(failoverBound, func() bool { w.mu.Lock(); defer w.mu.Unlock(); return w.refreshes[w.phase] >= n }) {
		t.Fatalf("the session did not refresh %d times within %v", n, failoverBound)
	}
}

func (w *failoverWatch) sawNonOK(what string, a answer) {
	w.mu.Lock()
	defer w.mu.Unlock()
	key := what + " " + statusText(a)
	if w.nonOK[w.phase] == nil {
		w.nonOK[w.phase] = map[string]int{}
	}
	w.nonOK[w.phase][key]++
}

func (w *failoverWatch) took(what string, d time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.slowest[what] = max(w.slowest[what], d)
}

func statusText(a answer) string {
	if a.err != nil {
		if e2etest.IsTimeout(a.err) {
			return "timeout"
		}
		return "transport error"
	}
	if a.errCode != "" {
		return fmt.Sprintf("%d %s", a.status, a.errCode)
	}
	return strconv.Itoa(a.status)
}

// startChecker presents every revoked token to check, round after round;
// check reports whether the token was accepted, and the answer.
func (w *failoverWatch) startChecker(name string, check func(token string) (bool, answer)) {
	w.checkerNames = append(w.checkerNames, name)
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		for {
			for _, tok := range w.revoked {
				start := time.Now()
				accepted, r := check(tok)
				w.took("revoked-token check", time.Since(start))
				w.mu.Lock()
				w.checks[w.phase]++
				if accepted {
					w.accepted = append(w.accepted, fmt.Sprintf("%s (%s)", name, w.phase))
				}
				w.mu.Unlock()
				if r.status != http.StatusOK {
					w.sawNonOK(name, r)
				}
			}
			w.mu.Lock()
			w.rounds[name]++
			w.mu.Unlock()
			select {
			case <-w.done:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
}

// refreshLoop refreshes one session through the balancer, retrying
// retryable answers with the same token as a client would.
func (w *failoverWatch) refreshLoop(rt string) {
	defer w.wg.Done()
	for {
		select {
		case <-w.done:
			return
		case <-time.After(20 * time.Millisecond):
		}
		start := time.Now()
		r := w.e.app.refresh(w.e.c.lb, rt)
		w.took("refresh via balancer", time.Since(start))
		switch {
		case r.status == http.StatusOK:
			rt = r.RefreshToken
			w.mu.Lock()
			w.refreshes[w.phase]++
			w.mu.Unlock()
		case r.retryable():
			w.sawNonOK("refresh via balancer", r.answer)
		default:
			w.sawNonOK("refresh via balancer", r.answer)
			w.mu.Lock()
			w.lostReason = "refresh: " + r.answer.String()
			w.mu.Unlock()
			return
		}
	}
}

// report logs the counts per phase and fails on an accepted revoked token
// or a lost session.
func (w *failoverWatch) report(t *testing.T) {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	total := 0
	for _, phase := range []string{"before", "fault", "promoted", "recovered", "old primary rejoined"} {
		var kinds []string
		n := 0
		for k, v := range w.nonOK[phase] {
			kinds = append(kinds, fmt.Sprintf("%s ×%d", k, v))
			n += v
		}
		sort.Strings(kinds)
		total += n
		t.Logf("figure: phase %q: %d revoked-token checks, %d refreshes answered 200, %d non-200 answers %v",
			phase, w.checks[phase], w.refreshes[phase], n, kinds)
	}
	t.Logf("figure: Sentinel failover: %d non-200 answers in all; slowest revoked-token check %v, slowest refresh %v", total,
		w.slowest["revoked-token check"].Round(time.Millisecond), w.slowest["refresh via balancer"].Round(time.Millisecond))
	if len(w.accepted) > 0 {
		t.Errorf("revoked tokens accepted during the failover: %v", w.accepted)
	}
	if w.lostReason != "" {
		t.Errorf("the session refreshing through the balancer was lost: %s", w.lostReason)
	}
}
