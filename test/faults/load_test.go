package faults_test

import (
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// loadWorkers bounds the load: enough concurrency to race the faults, not
// enough to swamp two shared cores.
const loadWorkers = 4

// load runs loadWorkers goroutines, each looping: a password grant, then a
// chain of refreshes (each refresh token used once), introspecting its own
// access token and a revoked one at every step. Every few chains ends with a
// concurrent double refresh of one token, of which at most one may succeed.
type load struct {
	s    *scenario
	opts loadOptions
	stop chan struct{}
	wg   sync.WaitGroup
	ops  atomic.Int64 // completed requests (any outcome)
}

// loadOptions shape the load.
type loadOptions struct {
	// noReuse leaves out the double refreshes. Each one revokes a session
	// (reuse detection), and a revocation written while Redis is down makes
	// the server distrust its cache until it reseeds, which would hide how
	// it behaves after a quiet outage.
	noReuse bool
}

func startLoad(s *scenario, opts loadOptions) *load {
	l := &load{s: s, opts: opts, stop: make(chan struct{})}
	for i := range loadWorkers {
		l.wg.Go(func() { l.worker(i) })
	}
	s.t.Cleanup(l.halt)
	return l
}

// halt stops the workers and waits for their in-flight requests (each
// bounded by requestTimeout). Safe to call twice.
func (l *load) halt() {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	l.wg.Wait()
}

// waitOps waits until n more requests completed, or bound; it reports
// whether they did. Scenarios use it to let the load run into a fault.
func (l *load) waitOps(n int64, bound time.Duration) bool {
	target := l.ops.Load() + n
	return waitUntil(bound, func() bool { return l.ops.Load() >= target })
}

func (l *load) stopped() bool {
	select {
	case <-l.stop:
		return true
	default:
		return false
	}
}

// pause waits a little between failed attempts, as a client honouring
// Retry-After would (shortened).
func (l *load) pause() {
	select {
	case <-l.stop:
	case <-time.After(100 * time.Millisecond):
	}
}

func (l *load) worker(id int) {
	a := l.s.api
	for chain := 0; !l.stopped(); chain++ {
		tr := a.password(loadUser, loadPassword)
		l.ops.Add(1)
		if tr.status != http.StatusOK {
			l.pause()
			continue
		}
		at, rt := tr.AccessToken, tr.RefreshToken
		for step := 0; step < 6 && !l.stopped(); step++ {
			a.introspect(at)
			l.ops.Add(1)
			l.probeRevoked()
			if step == 5 && (chain+id)%3 == 0 && !l.opts.noReuse {
				l.doubleRefresh(rt)
				break // reuse detection has revoked the family
			}
			next := a.refresh(rt)
			l.ops.Add(1)
			switch {
			case next.status == http.StatusOK:
				l.s.led.refreshSucceeded(rt)
				at, rt = next.AccessToken, next.RefreshToken
				continue
			case next.status == http.StatusBadRequest && next.errCode == "invalid_grant":
				// rt came from a 200 and nothing revoked the load user's
				// sessions: the server lost the family.
				l.s.led.violate("family lost: a refresh token issued with a 200 was refused (invalid_grant)",
					"at step %d of a chain: %s", step, next.body)
			}
			// 503, a transport error or anything else: the outcome is
			// unknown, so this chain ends (a retry could be a reuse).
			l.pause()
			break
		}
	}
}

// probeRevoked introspects one revoked token: it must never be active.
func (l *load) probeRevoked() {
	revoked := l.s.led.revokedSnapshot()
	if len(revoked) == 0 {
		return
	}
	r := revoked[rand.N(len(revoked))]
	res, active := l.s.api.introspect(r.access)
	l.ops.Add(1)
	if active {
		l.s.led.violate("revoked token active at /introspect under load",
			"%s, %v after its revocation, %s", r.how,
			res.start.Sub(r.revokedAt).Round(time.Millisecond), l.s.phase(res.start))
	}
}

// doubleRefresh sends the same refresh token twice at once: rotation is
// atomic, so at most one may succeed.
func (l *load) doubleRefresh(rt string) {
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			if r := l.s.api.refresh(rt); r.status == http.StatusOK {
				l.s.led.refreshSucceeded(rt)
			}
			l.ops.Add(1)
		})
	}
	wg.Wait()
}
