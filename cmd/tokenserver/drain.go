package main

import (
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/tokenserver/tokenserver/tokenserver"
)

// drain is the first step of a graceful stop: /readyz answers 503 at once,
// while the listener keeps serving for delay, so that load balancers (a
// Kubernetes Service's endpoints, whose removal takes a few seconds to
// reach every node) stop sending before the port closes. It returns when
// the delay has run out or force is closed (a second signal; closed from
// the start after an interrupt, which skips the delay), or with the
// server's error if it stopped serving meanwhile.
func drain(srv *tokenserver.Server, httpSrv *http.Server, delay time.Duration, force <-chan struct{}, serveErr <-chan error, logger *slog.Logger) error {
	srv.Drain()
	select {
	case <-force: // an interrupt, not a load balancer's SIGTERM: no delay
		return nil
	default:
	}
	if delay <= 0 {
		return nil
	}
	// A kept-alive connection outlives the endpoint's removal: its client
	// would keep sending here. Closing each connection after its current
	// response sends the next request through the load balancer again.
	httpSrv.SetKeepAlivesEnabled(false)
	logger.Info("draining: /readyz answers 503, requests are still served", "delay", delay)
	t := time.NewTimer(delay)
	defer t.Stop()
	select {
	case <-t.C:
	case <-force:
		logger.Info("drain cut short by a second signal")
	case err := <-serveErr:
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}
