package tokenserver

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// defaultReadyTimeout bounds all readiness checks together.
const defaultReadyTimeout = 2 * time.Second

// handleHealthz reports that the process serves HTTP (liveness).
func (s *Server) handleHealthz(w http.ResponseWriter, r *http.Request) {
	writePlain(w, http.StatusOK, "ok\n")
}

// handleReadyz runs the Ready checks concurrently under one timeout and
// answers 200 or 503 naming the failed checks by index. Error details go
// to the log only: the probe may be reachable from outside, and errors
// from stores can name internal hosts.
func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), s.readyTimeout)
	defer cancel()

	results := make(chan readyResult, len(s.cfg.Ready))
	for i, check := range s.cfg.Ready {
		go func() { results <- readyResult{index: i, err: check(ctx)} }()
	}
	failed := make([]string, len(s.cfg.Ready))
	pending := len(s.cfg.Ready)
	for i := range failed {
		failed[i] = "timed out"
	}
collect:
	for pending > 0 {
		select {
		case res := <-results:
			pending--
			failed[res.index] = ""
			if res.err != nil {
				failed[res.index] = "failed"
				s.logger.WarnContext(ctx, "tokenserver: readiness check failed", "check", res.index, "error", res.err)
			}
		case <-ctx.Done():
			break collect
		}
	}

	var b strings.Builder
	for i, f := range failed {
		if f != "" {
			fmt.Fprintf(&b, "check %d: %s\n", i, f)
		}
	}
	if b.Len() > 0 {
		writePlain(w, http.StatusServiceUnavailable, b.String())
		return
	}
	writePlain(w, http.StatusOK, "ok\n")
}

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
