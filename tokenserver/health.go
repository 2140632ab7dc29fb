package tokenserver

import (
	"context"
	"net/http"
	"strings"
	"time"
)

// defaultReadyTimeout bounds all readiness checks together.
const defaultReadyTimeout = 2 * time.Second

// ReadyCheck is one dependency /readyz checks.
type ReadyCheck struct {
	// Name is what the /readyz body and the log call the check
	// ("postgres", "redis", "signing key"); unique among the checks.
	Name string
	// Check returns nil when the dependency works. It should honour ctx.
	Check func(context.Context) error
	// Critical checks are those without which no token can be issued: a
	// failure makes /readyz 503. A non-critical failure (Redis: the server
	// falls back to PostgreSQL and per-process throttling) is reported as
	// "degraded" with 200, so one dependency's blip does not pull every
	// replica out of a load balancer at once.
	Critical bool
}

// Readiness states in the /readyz body, one "name: state" line per check.
const (
	readyOK       = "ok"
	readyFailed   = "failed"   // a critical check failed
	readyDegraded = "degraded" // a non-critical check failed
	readyTimedOut = "timed out"
)

// handleHealthz reports that the process serves HTTP (liveness).
func (s *Server) handleHealthz(w http.ResponseWriter, r *http.Request) {
	writePlain(w, http.StatusOK, "ok\n")
}

// handleReadyz answers 503 while draining, otherwise runs the Ready checks
// concurrently under one timeout and answers 503 only when a critical one
// did not pass. The body names every check and its state; error details
// go to the log only: the probe may be reachable from outside, and errors
// from stores can name internal hosts.
func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) {
	if s.draining.Load() {
		writePlain(w, http.StatusServiceUnavailable, "draining\n")
		return
	}
	checks := s.cfg.Ready
	if len(checks) == 0 {
		writePlain(w, http.StatusOK, "ok\n")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.readyTimeout)
	defer cancel()

	results := make(chan readyResult, len(checks))
	for i, c := range checks {
		go func() { results <- readyResult{index: i, err: c.Check(ctx)} }()
	}
	states := make([]string, len(checks))
	for i := range states {
		states[i] = readyTimedOut
	}
	pending := len(checks)
collect:
	for pending > 0 {
		select {
		case res := <-results:
			pending--
			c := checks[res.index]
			switch {
			case res.err == nil:
				states[res.index] = readyOK
			case c.Critical:
				states[res.index] = readyFailed
			default:
				states[res.index] = readyDegraded
			}
			if res.err != nil {
				s.logger.WarnContext(ctx, "tokenserver: readiness check failed",
					"check", c.Name, "critical", c.Critical, "error", res.err)
			}
			s.reportReadiness(c.Name, res.err == nil)
		case <-ctx.Done():
			break collect
		}
	}

	status := http.StatusOK
	var b strings.Builder
	for i, c := range checks {
		ok := states[i] == readyOK
		if !ok && c.Critical {
			status = http.StatusServiceUnavailable
		}
		if states[i] == readyTimedOut {
			s.logger.WarnContext(ctx, "tokenserver: readiness check timed out",
				"check", c.Name, "critical", c.Critical, "timeout", s.readyTimeout)
			s.reportReadiness(c.Name, false)
		}
		b.WriteString(c.Name)
		b.WriteString(": ")
		b.WriteString(states[i])
		b.WriteByte('\n')
	}
	writePlain(w, status, b.String())
}

// reportReadiness tells Config.OnReadiness a check's outcome, as soon as
// it is known (at the deadline for a check that did not answer).
func (s *Server) reportReadiness(name string, ok bool) {
	if s.cfg.OnReadiness != nil {
		s.cfg.OnReadiness(name, ok)
	}
}

// Drain makes /readyz answer 503 "draining" from now on, while every other
// endpoint keeps serving: the first step of a graceful shutdown, so that
// load balancers stop sending before the listener closes.
func (s *Server) Drain() { s.draining.Store(true) }

type readyResult struct {
	index int
	err   error
}

func writePlain(w http.ResponseWriter, status int, body string) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}
