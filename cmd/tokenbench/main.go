// Command tokenbench measures tokenserver against the hard floors of the
// machine it runs on (one argon2id hash, one durable PostgreSQL commit, an
// HTTP handler that writes fixed bytes) and against Keycloak's published
// sizing, and prints every figure beside its floor as a ratio. `make bench`
// runs it; BENCHMARKS.md explains the method.
//
// It starts PostgreSQL (fsync on) and Redis with the test helpers, builds
// and starts the server as a separate process (so its CPU and memory are
// measured apart from the load generator), sets it up through its own CLI,
// calibrates, drives each phase over loopback, and writes the results to
// bench-results/<timestamp>.json.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, err) // errors carry the "tokenbench:" prefix
		os.Exit(1)
	}
}

// run is the whole program: the benchmark, or the hidden floor-server mode
// in which tokenbench re-executes itself.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == floorServerCommand {
		return runFloorServer(ctx, args[1:], stderr)
	}
	o, err := parseOptions(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	if o.growth {
		return runGrowth(ctx, o, getenv, stdout, stderr)
	}
	return runBench(ctx, o, getenv, stdout, stderr)
}

// queueTimeoutFor is the server's hashing queue timeout during the run:
// five hash times, so that under overload an accepted login waits at most a
// few hashes (the default 2s would let accepted logins wait 2s) and the
// excess is shed within a fraction of a second.
func queueTimeoutFor(hashTime time.Duration) time.Duration {
	return max(5*hashTime, 20*time.Millisecond).Round(time.Millisecond)
}

func runBench(ctx context.Context, o *options, getenv func(string) string, stdout, stderr io.Writer) error {
	started := time.Now()
	machine := describeMachine()
	if machine.BusyPct > 10 {
		fmt.Fprintf(stderr, "warning: the CPUs were %.0f%% busy before the run: other work competes with the benchmark; figures will be noisy\n",
			machine.BusyPct)
	}
	dir, err := os.MkdirTemp("", "tokenbench-")
	if err != nil {
		return fmt.Errorf("tokenbench: %w", err)
	}
	if o.keepLogs {
		defer fmt.Fprintf(stderr, "logs kept in %s\n", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	env := &benchEnv{dir: dir, getenv: getenv}
	defer env.close()
	b := &bench{o: o, env: env, log: stderr, sink: &tokenSink{limit: 4096}}
	if o.profile {
		b.prof = &profiler{outDir: o.outDir, prefix: started.UTC().Format(resultsTimeFormat),
			log: func(format string, args ...any) { fmt.Fprintf(stderr, format, args...) }}
	}

	fmt.Fprintln(stderr, "setup")
	if o.serverBin != "" {
		env.serverBin = o.serverBin
	} else if env.serverBin, err = buildServer(ctx, o.goTool, dir); err != nil {
		return err
	}
	if err := startBackends(env, stderr); err != nil {
		return err
	}

	fmt.Fprintln(stderr, "calibration (in this process, server not yet started)")
	if err := calibrateArgon2(ctx, &b.cal, o.argon2, o.calibrate); err != nil {
		return err
	}
	hashTime := time.Duration(b.cal.Argon2.HashTimeMS * float64(time.Millisecond))
	b.queueTimeout = queueTimeoutFor(hashTime)
	b.cal.Argon2.QueueTimeoutMS = float64(b.queueTimeout) / float64(time.Millisecond)
	if err := calibrateSign(ctx, &b.cal, o.signingAlg, o.calibrate); err != nil {
		return err
	}
	if err := calibratePostgres(ctx, &b.cal, env.floorDSN, o.concurrency, o.calibrate); err != nil {
		return err
	}
	if err := calibrateRedis(ctx, &b.cal, env.redis.Addr, o.concurrency, o.calibrate); err != nil {
		return err
	}
	if err := calibrateES256Verify(ctx, &b.cal, o.calibrate); err != nil {
		return err
	}

	if err := setupServer(ctx, env, o); err != nil {
		return err
	}
	if b.pg, err = newPGProbe(ctx, env.pg.AdminURL(), serverDatabase); err != nil {
		// The write figures are then n/a; the rest of the run is unaffected.
		fmt.Fprintf(stderr, "  %v; no PostgreSQL write figures\n", err)
		b.pg = nil
	}
	defer b.pg.close()
	if err := startServer(ctx, env, o, b.queueTimeout); err != nil {
		return err
	}
	// Idle: two seconds after /readyz, with no request served yet.
	time.Sleep(2 * time.Second)
	if m, err := processMemory(env.server.pid()); err == nil {
		b.idleRSSMiB = float64(m.RSS) / mib
	}
	fmt.Fprintf(stderr, "  tokenserver ready at %s, idle RSS %s MiB\n", env.baseURL, formatNumber(b.idleRSSMiB))

	jwksClient := newHTTPClient(o.concurrency)
	jwks, err := fetch(ctx, jwksClient, env.baseURL+"/.well-known/jwks.json")
	if err != nil {
		return err
	}
	fmt.Fprintln(stderr, "load (loopback)")
	if err := b.httpFloor(ctx, jwks); err != nil {
		return err
	}
	b.forms = passwordForms(env.usernames, env.password)
	pwClient := newOAuthClient(newHTTPClient(4*o.hashSlots), env.baseURL, env.clientID, env.clientSecret)
	if err := b.passwordPhase(ctx, pwClient); err != nil {
		return err
	}
	rfClient := newOAuthClient(newHTTPClient(o.concurrency+32), env.baseURL, env.clientID, env.clientSecret)
	if err := b.makeChains(ctx, pwClient, o.concurrency+32); err != nil {
		return err
	}
	if err := b.refreshPhase(ctx, rfClient); err != nil {
		return err
	}
	if err := b.jwksPhase(ctx, jwksClient); err != nil {
		return err
	}
	if err := b.introspectionPhase(ctx, rfClient); err != nil {
		return err
	}
	ccClient := newOAuthClient(newHTTPClient(o.concurrency), env.baseURL, env.serviceID, env.serviceSecret)
	if err := b.clientCredentialsPhase(ctx, ccClient); err != nil {
		return err
	}
	if err := b.pgStatsEnd(ctx); err != nil {
		return err
	}
	// After pgStatsEnd: these phases write to PostgreSQL.
	if err := b.dpopPhases(ctx); err != nil {
		return err
	}
	if err := b.refreshAlonePhase(ctx, rfClient); err != nil {
		return err
	}
	// Overload logins get their own connections: under overload they queue
	// by the hundred and must not hold up the refresh stream's.
	ovClient := newOAuthClient(newHTTPClient(256), env.baseURL, env.clientID, env.clientSecret)
	if pw := b.phase("password grant"); pw != nil && pw.OKPerS > 0 {
		if err := b.overloadPhase(ctx, ovClient, rfClient, pw.OKPerS); err != nil {
			return err
		}
	}
	if m, err := processMemory(env.server.pid()); err == nil {
		b.endRSSMiB = float64(m.RSS) / mib
	}

	figs := b.figures()
	r := &results{
		Schema: 1, Started: started, Seconds: time.Since(started).Seconds(), Machine: machine,
		Config: configJSON{
			PhaseSeconds: o.duration.Seconds(), Concurrency: o.concurrency, Users: o.users, HashSlots: o.hashSlots, ServerGOMAXPROCS: o.serverProcs,
			Argon2: b.cal.Argon2.Params, SigningAlg: o.signingAlg, RefreshStreamPerS: o.refreshRate,
			Overload: o.overload, QueueTimeoutMS: b.cal.Argon2.QueueTimeoutMS, Quick: o.quick,
			ServerEnv: o.serverEnv, OTLPSink: o.otlpSink,
		},
		Calibration: b.cal, Phases: b.phases, Figures: figs, IdleRSSMiB: b.idleRSSMiB, EndRSSMiB: b.endRSSMiB,
		DPoPVerifier: b.dpopVerifier,
	}
	path, err := writeJSON(o.outDir, r)
	if err != nil {
		return err
	}

	m := r.Machine
	fmt.Fprintf(stdout, "\ntokenbench on %s (%d CPUs, %d MiB, %.0f%% busy before the run), %s, %s per phase\n\n",
		m.CPUModel, m.CPUs, m.MemoryMiB, m.BusyPct, m.GoVersion, o.duration)
	fmt.Fprintln(stdout, "Floors measured on this machine:")
	writeCalibration(stdout, &b.cal)
	fmt.Fprintln(stdout)
	writeDPoPVerifier(stdout, b.dpopVerifier)
	if err := writePhases(stdout, b.phases); err != nil {
		return err
	}
	fmt.Fprintln(stdout)
	if err := writeFigures(stdout, figs); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\n%s; results in %s (took %s)\n", summaryLine(figs), path, time.Since(started).Round(time.Second))
	return nil
}
