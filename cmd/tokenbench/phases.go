package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"
)

// phaseResult is one load phase as reported (and written to JSON).
type phaseResult struct {
	Name        string  `json:"name"`
	Mode        string  `json:"mode"` // "closed" (fixed workers) or "open" (fixed arrival rate)
	Workers     int     `json:"workers,omitempty"`
	OfferedPerS float64 `json:"offered_per_s,omitempty"`
	Seconds     float64 `json:"seconds"`
	Requests    int     `json:"requests"`
	OK          int     `json:"ok"`
	Rejected    int     `json:"rejected"` // 429 and 503: load shedding
	Errors      int     `json:"errors"`   // every other status, and transport errors
	Dropped     int     `json:"dropped,omitempty"`
	OKPerS      float64 `json:"ok_per_s"`
	// Latency is of the 2xx answers; RejectedLatency of the 429/503 ones.
	Latency         latencyMS      `json:"latency_ms"`
	RejectedLatency *latencyMS     `json:"rejected_latency_ms,omitempty"`
	Statuses        map[string]int `json:"statuses"`
	// Server figures: CPU (user+system) of the server process per completed
	// request, and its peak RSS during the phase. Phases that share the
	// server (the overload pair) share these.
	ServerCPUPerRequestUS float64 `json:"server_cpu_per_request_us"`
	ServerPeakRSSMiB      float64 `json:"server_peak_rss_mib"`
	// Where the machine's CPU went, per completed request: the load
	// generator (this process), and everything else that was busy
	// (PostgreSQL, Redis, other processes). MachineBusyPct is the share of
	// all CPUs busy during the phase.
	GeneratorCPUPerRequestUS float64 `json:"generator_cpu_per_request_us"`
	OtherCPUPerRequestUS     float64 `json:"other_cpu_per_request_us"`
	MachineBusyPct           float64 `json:"machine_busy_pct"`
	Skipped                  string  `json:"skipped,omitempty"`
	// PostgresWrites is what the phase wrote to PostgreSQL per request
	// (phases against the token server only).
	PostgresWrites *pgWrites `json:"postgres_writes,omitempty"`
}

const mib = 1 << 20

// newPhaseResult summarises a load result and what it cost (u).
func newPhaseResult(name, mode string, workers int, offered float64, res loadResult, u usage) phaseResult {
	p := phaseResult{Name: name, Mode: mode, Workers: workers, OfferedPerS: offered,
		Seconds: res.Elapsed.Seconds(), Requests: len(res.Samples), Dropped: res.Dropped,
		Statuses: map[string]int{}, ServerPeakRSSMiB: float64(u.ServerPeak) / mib}
	for status, n := range statusCounts(res.Samples) {
		key := strconv.Itoa(status)
		if status == 0 {
			key = "transport_error"
		}
		p.Statuses[key] = n
		switch {
		case isOK(status):
			p.OK += n
		case isRejected(status):
			p.Rejected += n
		default:
			p.Errors += n
		}
	}
	if p.Seconds > 0 {
		p.OKPerS = float64(p.OK) / p.Seconds
	}
	p.Latency = toMS(summarize(res.Samples, isOK))
	if p.Rejected > 0 {
		rl := toMS(summarize(res.Samples, isRejected))
		p.RejectedLatency = &rl
	}
	p.setCPU(u, p.Requests)
	return p
}

// setCPU spreads the phase's CPU over n requests.
func (p *phaseResult) setCPU(u usage, n int) {
	if n == 0 {
		return
	}
	perReq := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) / float64(n) }
	p.ServerCPUPerRequestUS = perReq(u.ServerCPU)
	p.GeneratorCPUPerRequestUS = perReq(u.GeneratorCPU)
	p.OtherCPUPerRequestUS = max(0, perReq(u.MachineBusy-u.ServerCPU-u.GeneratorCPU))
	if u.MachineTotal > 0 {
		p.MachineBusyPct = 100 * float64(u.MachineBusy) / float64(u.MachineTotal)
	}
}

// bench holds the state shared by the phases of one run.
type bench struct {
	o            *options
	env          *benchEnv
	log          io.Writer
	cal          calibration
	queueTimeout time.Duration
	forms        []string   // password-grant bodies, one per user
	chains       chainPool  // refresh chains for the refresh phases
	sink         *tokenSink // access tokens for introspection
	prof         *profiler  // nil unless --profile
	pg           *pgProbe   // nil when pg_walinspect is unavailable
	// refreshStats is the statistics-view reading at the start of the
	// refresh phase; pgStatsEnd completes it later.
	refreshStats *pgCounters
	refreshEnded time.Time
	phases       []phaseResult
	idleRSSMiB   float64
	endRSSMiB    float64
	// dpopVerifier is the in-process verifier comparison (nil if not run).
	dpopVerifier *verifierResult
}

func (b *bench) limits() bounds {
	return bounds{MaxRequests: b.o.maxRequests, MaxDuration: b.o.duration}
}

// measured runs load while measuring the CPU and peak RSS of process pid,
// and the machine's CPU (and, with --profile, recording where pid's CPU
// went).
func (b *bench) measured(ctx context.Context, pid int, phase string, load func()) (usage, error) {
	m, err := beginUsage(ctx, pid)
	if err != nil {
		return usage{}, err
	}
	rec := b.prof.start(ctx, pid, phase)
	load()
	u, err := m.end()
	b.prof.stop(rec)
	return u, err
}

// closedPhase runs a closed loop against the server and records the phase.
func (b *bench) closedPhase(ctx context.Context, pid int, name string, workers int, do doFunc) (phaseResult, error) {
	fmt.Fprintf(b.log, "  %-22s %d workers, %s\n", name, workers, b.o.duration)
	var res loadResult
	var before pgCounters
	probe := b.pg != nil && b.env.server != nil && pid == b.env.server.pid()
	if probe {
		var err error
		if before, err = b.pg.read(ctx); err != nil {
			return phaseResult{}, err
		}
	}
	u, err := b.measured(ctx, pid, name, func() { res = closedLoop(ctx, workers, b.limits(), do) })
	if err != nil {
		return phaseResult{}, err
	}
	r := newPhaseResult(name, "closed", workers, 0, res, u)
	if probe {
		after, err := b.pg.read(ctx)
		if err != nil {
			return phaseResult{}, err
		}
		if r.PostgresWrites, err = b.pg.walDelta(ctx, before, after, r.OK); err != nil {
			// The write figures are then n/a; the phase itself stands.
			fmt.Fprintf(b.log, "  %v\n", err)
		}
		if name == "refresh grant" {
			b.refreshStats, b.refreshEnded = &before, time.Now()
		}
	}
	return r, ctx.Err()
}

// pgStatsEnd completes the refresh phase's statistics-view deltas, once
// PostgreSQL's backends have flushed their counters (an idle backend
// flushes within 10 s; the phases run meanwhile write nothing).
func (b *bench) pgStatsEnd(ctx context.Context) error {
	rf := b.phase("refresh grant")
	if b.pg == nil || b.refreshStats == nil || rf == nil {
		return nil
	}
	if wait := 11*time.Second - time.Since(b.refreshEnded); wait > 0 {
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	after, err := b.pg.read(ctx)
	if err != nil {
		return err
	}
	statDelta(rf.PostgresWrites, *b.refreshStats, after)
	return nil
}

// httpFloor measures the floor server: the same client and concurrency as
// the JWKS phase against a handler that only writes the JWKS bytes.
func (b *bench) httpFloor(ctx context.Context, jwks []byte) error {
	p, floorURL, err := startFloorServer(ctx, b.env.getenv, b.env.dir, jwks)
	if err != nil {
		return err
	}
	defer p.stop(5 * time.Second)
	h := newHTTPClient(b.o.concurrency)
	defer h.CloseIdleConnections()
	r, err := b.closedPhase(ctx, p.pid(), "http floor", b.o.concurrency, func(ctx context.Context, _, _ int) (int, error) {
		return get(ctx, h, floorURL)
	})
	b.cal.HTTPFloor = r
	return err
}

// passwordPhase drives password grants with twice as many workers as hashing
// slots, so every slot always has the next login waiting.
func (b *bench) passwordPhase(ctx context.Context, c *oauthClient) error {
	r, err := b.closedPhase(ctx, b.env.server.pid(), "password grant", 2*b.o.hashSlots, func(ctx context.Context, _, i int) (int, error) {
		status, tr, err := c.passwordGrant(ctx, b.forms[i%len(b.forms)])
		if err == nil && tr.AccessToken != "" {
			b.sink.add(tr.AccessToken)
		}
		return status, err
	})
	b.phases = append(b.phases, r)
	return err
}

// makeChains logs in n sessions (not measured) for the refresh phases. A
// login shed with 429/503 (the hashing queue is short during the run) is
// retried after a pause.
func (b *bench) makeChains(ctx context.Context, c *oauthClient, n int) error {
	b.chains = make(chainPool, n)
	var lastErr error
	for i := 0; len(b.chains) < n && i < 20*n && ctx.Err() == nil; i++ {
		status, tr, err := c.passwordGrant(ctx, b.forms[i%len(b.forms)])
		switch {
		case err == nil && status == http.StatusOK:
			b.chains <- tr.RefreshToken
		case isRejected(status):
			time.Sleep(b.queueTimeout)
		default:
			lastErr = fmt.Errorf("status %d: %v", status, err)
		}
	}
	if len(b.chains) < n {
		return fmt.Errorf("tokenbench: only %d of %d refresh chains (last error: %v)", len(b.chains), n, lastErr)
	}
	return ctx.Err()
}

// refreshPhase drives refresh grants with o.concurrency workers, each
// rotating a chain (every refresh token is used exactly once).
func (b *bench) refreshPhase(ctx context.Context, c *oauthClient) error {
	r, err := b.closedPhase(ctx, b.env.server.pid(), "refresh grant", b.o.concurrency, func(ctx context.Context, _, _ int) (int, error) {
		return b.chains.refresh(ctx, c, b.sink)
	})
	b.phases = append(b.phases, r)
	return err
}

func (b *bench) jwksPhase(ctx context.Context, h *http.Client) error {
	u := b.env.baseURL + "/.well-known/jwks.json"
	r, err := b.closedPhase(ctx, b.env.server.pid(), "jwks", b.o.concurrency, func(ctx context.Context, _, _ int) (int, error) {
		return get(ctx, h, u)
	})
	b.phases = append(b.phases, r)
	return err
}

// introspectionPhase introspects (RFC 7662) the access tokens issued so far,
// a different one per request. A server without /introspect yields a skipped
// phase.
func (b *bench) introspectionPhase(ctx context.Context, c *oauthClient) error {
	tokens := b.sink.all()
	if len(tokens) == 0 {
		b.phases = append(b.phases, phaseResult{Name: "introspection", Skipped: "no access tokens were issued"})
		return nil
	}
	forms := make([]string, len(tokens))
	for i, t := range tokens {
		forms[i] = "token=" + url.QueryEscape(t)
	}
	status, _, err := c.postForm(ctx, "/introspect", forms[0])
	if err != nil {
		return fmt.Errorf("tokenbench: introspection probe: %w", err)
	}
	if status == http.StatusNotFound || status == http.StatusMethodNotAllowed {
		b.phases = append(b.phases, phaseResult{Name: "introspection", Skipped: fmt.Sprintf("POST /introspect answered %d", status)})
		fmt.Fprintf(b.log, "  %-22s n/a (POST /introspect answered %d)\n", "introspection", status)
		return nil
	}
	r, err := b.closedPhase(ctx, b.env.server.pid(), "introspection", b.o.concurrency, func(ctx context.Context, _, i int) (int, error) {
		status, _, err := c.postForm(ctx, "/introspect", forms[i%len(forms)])
		return status, err
	})
	b.phases = append(b.phases, r)
	return err
}

// clientCredentialsForm is the body of every client_credentials request
// (the client authenticates with Basic; its registered scope is granted).
const clientCredentialsForm = "grant_type=client_credentials"

// clientCredentialsPhase drives client_credentials grants (RFC 6749 §4.4)
// with o.concurrency workers as the client registered for them. A server
// that does not implement the grant (an older --server-bin) yields a
// skipped phase.
func (b *bench) clientCredentialsPhase(ctx context.Context, c *oauthClient) error {
	const name = "client_credentials grant"
	status, body, err := c.postForm(ctx, "/token", clientCredentialsForm)
	if err != nil {
		return fmt.Errorf("tokenbench: client_credentials probe: %w", err)
	}
	if status != http.StatusOK {
		reason := fmt.Sprintf("POST /token answered %d: %.100s", status, body)
		b.phases = append(b.phases, phaseResult{Name: name, Skipped: reason})
		fmt.Fprintf(b.log, "  %-22s n/a (%s)\n", name, reason)
		return nil
	}
	r, err := b.closedPhase(ctx, b.env.server.pid(), name, b.o.concurrency, func(ctx context.Context, _, _ int) (int, error) {
		status, _, err := c.postForm(ctx, "/token", clientCredentialsForm)
		return status, err
	})
	b.phases = append(b.phases, r)
	return err
}

// refreshStream is the light, fixed-rate refresh traffic whose latency is
// compared alone and under password overload.
func (b *bench) refreshStream(ctx context.Context, c *oauthClient) loadResult {
	return openLoop(ctx, b.o.refreshRate, cap(b.chains), b.limits(), func(ctx context.Context, _, _ int) (int, error) {
		return b.chains.refresh(ctx, c, nil)
	})
}

// refreshAlonePhase measures the refresh stream on an otherwise idle server.
func (b *bench) refreshAlonePhase(ctx context.Context, c *oauthClient) error {
	fmt.Fprintf(b.log, "  %-22s %.0f/s, %s\n", "refresh stream, idle", b.o.refreshRate, b.o.duration)
	var res loadResult
	u, err := b.measured(ctx, b.env.server.pid(), "refresh stream idle", func() { res = b.refreshStream(ctx, c) })
	if err != nil {
		return err
	}
	b.phases = append(b.phases, newPhaseResult("refresh stream, idle", "open", 0, b.o.refreshRate, res, u))
	return ctx.Err()
}

// overloadPhase offers password grants at o.overload × the measured
// password rate (open loop: the excess cannot be absorbed by waiting) while
// the refresh stream runs alongside.
func (b *bench) overloadPhase(ctx context.Context, pc, rc *oauthClient, passwordRate float64) error {
	rate := b.o.overload * passwordRate
	fmt.Fprintf(b.log, "  %-22s %.0f logins/s (%.1f× capacity) + %.0f refreshes/s, %s\n",
		"password overload", rate, b.o.overload, b.o.refreshRate, b.o.duration)
	// Enough room for every arrival of a queue timeout plus a hash, twice.
	inFlight := int(rate*(b.queueTimeout.Seconds()+b.cal.Argon2.HashTimeMS/1000)*2) + 2*b.o.hashSlots
	inFlight = min(max(inFlight, 16), 4096)
	var pwRes, rfRes loadResult
	u, err := b.measured(ctx, b.env.server.pid(), "overload", func() {
		var wg sync.WaitGroup
		wg.Go(func() {
			pwRes = openLoop(ctx, rate, inFlight, b.limits(), func(ctx context.Context, _, i int) (int, error) {
				status, _, err := pc.passwordGrant(ctx, b.forms[i%len(b.forms)])
				return status, err
			})
		})
		wg.Go(func() { rfRes = b.refreshStream(ctx, rc) })
		wg.Wait()
	})
	if err != nil {
		return err
	}
	pw := newPhaseResult("password overload", "open", 0, rate, pwRes, u)
	rf := newPhaseResult("refresh stream, overload", "open", 0, b.o.refreshRate, rfRes, u)
	// The two streams share the server: CPU per request over both.
	n := len(pwRes.Samples) + len(rfRes.Samples)
	pw.setCPU(u, n)
	rf.setCPU(u, n)
	b.phases = append(b.phases, pw, rf)
	return ctx.Err()
}

// phase returns the named phase, or nil.
func (b *bench) phase(name string) *phaseResult {
	for i := range b.phases {
		if b.phases[i].Name == name {
			return &b.phases[i]
		}
	}
	return nil
}
