package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/tokenserver/tokenserver/tokenserver/password"
)

// options configure one benchmark run.
type options struct {
	duration    time.Duration // per load phase
	calibrate   time.Duration // per calibration measurement
	concurrency int           // workers of the refresh, JWKS and introspection phases; PostgreSQL floor
	maxRequests int           // per load phase
	users       int           // users created for the password grants
	hashSlots   int           // TOKENSERVER_HASH_CONCURRENCY
	argon2      password.Params
	signingAlg  string
	refreshRate float64 // refresh/s of the stream that runs alone and under overload
	overload    float64 // overload factor over the measured password rate
	outDir      string
	serverBin   string // prebuilt tokenserver; empty builds ./cmd/tokenserver
	goTool      string
	quick       bool
	keepLogs    bool
	profile     bool
	// growth selects the growth run (growthUsers users and growthFamilies
	// refresh families loaded before the load) instead of the benchmark.
	growth         bool
	growthUsers    int
	growthFamilies int
	// serverProcs is the server's GOMAXPROCS (0: the Go default, one per CPU).
	serverProcs int
	// serverEnv is extra NAME=VALUE settings of the server process
	// (--server-env, repeatable): e.g. TOKENSERVER_METRICS_ADDR, the audit
	// log, OTEL_TRACES_SAMPLER, to measure what observability costs.
	serverEnv envList
	// otlpSink: tokenbench serves an OTLP/HTTP endpoint that drops every
	// export and points the server's OTEL_EXPORTER_OTLP_ENDPOINT at it
	// (its CPU counts as the generator's).
	otlpSink bool
}

// envList is a repeatable NAME=VALUE flag.
type envList []string

func (l *envList) String() string { return strings.Join(*l, " ") }

func (l *envList) Set(v string) error {
	name, _, ok := strings.Cut(v, "=")
	if !ok || name == "" || strings.ContainsAny(name, " \t") {
		return fmt.Errorf("want NAME=VALUE, got %q", v)
	}
	*l = append(*l, v)
	return nil
}

// parseOptions reads flags; the argon2id parameters and hashing slots default
// to the server's environment (TOKENSERVER_ARGON2_*, TOKENSERVER_HASH_CONCURRENCY)
// so the benchmark measures what the server will run with.
func parseOptions(args []string, getenv func(string) string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("tokenbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: tokenbench [flags]\n\nMeasures tokenserver against this machine's floors; see BENCHMARKS.md.\n\nFlags:")
		fs.PrintDefaults()
	}
	owasp := password.OWASP()
	var memKiB, timeCost, threads uint
	fs.DurationVar(&o.duration, "duration", 5*time.Second, "length of each load phase")
	fs.DurationVar(&o.calibrate, "calibrate", 2*time.Second, "length of each calibration measurement")
	fs.IntVar(&o.concurrency, "concurrency", 16, "workers of the refresh, JWKS and introspection phases (and of the PostgreSQL commit floor)")
	fs.IntVar(&o.maxRequests, "max-requests", 500000, "at most this many requests per phase")
	fs.IntVar(&o.users, "users", 256, "users created for the password grants (each request names a different one in turn)")
	fs.IntVar(&o.hashSlots, "hash-concurrency", envInt(getenv, "TOKENSERVER_HASH_CONCURRENCY", runtime.GOMAXPROCS(0)), "the server's password-hashing slots")
	fs.UintVar(&memKiB, "argon2-memory", envUint(getenv, "TOKENSERVER_ARGON2_MEMORY", uint(owasp.Memory)), "argon2id memory, KiB")
	fs.UintVar(&timeCost, "argon2-time", envUint(getenv, "TOKENSERVER_ARGON2_TIME", uint(owasp.Time)), "argon2id iterations")
	fs.UintVar(&threads, "argon2-threads", envUint(getenv, "TOKENSERVER_ARGON2_THREADS", uint(owasp.Threads)), "argon2id parallelism")
	fs.StringVar(&o.signingAlg, "signing-alg", envString(getenv, "TOKENSERVER_SIGNING_ALG", "ES256"), "access-token signing algorithm")
	fs.Float64Var(&o.refreshRate, "refresh-rate", 50, "refreshes/s of the stream measured alone and during password overload")
	fs.Float64Var(&o.overload, "overload", 2, "password-grant overload factor over the measured password rate")
	fs.StringVar(&o.outDir, "out", "bench-results", "directory for the JSON results")
	fs.StringVar(&o.serverBin, "server-bin", "", "use this tokenserver binary instead of building ./cmd/tokenserver")
	fs.StringVar(&o.goTool, "go", "go", "the go command used to build the server")
	fs.BoolVar(&o.quick, "quick", false, "smoke run: short phases and calibrations, few users")
	fs.BoolVar(&o.profile, "profile", false, "record each phase's server CPU with Linux perf; reports go next to the JSON")
	fs.IntVar(&o.serverProcs, "server-gomaxprocs", 0, "GOMAXPROCS of the server process (0: the server chooses: one per CPU, plus one when hashing could occupy them all)")
	fs.BoolVar(&o.growth, "growth", false, "growth run instead of the benchmark: COPY --growth-users users and --growth-families refresh families into PostgreSQL, then measure logins, refreshes and the purge job against them")
	fs.IntVar(&o.growthUsers, "growth-users", 100000, "users loaded by --growth")
	fs.IntVar(&o.growthFamilies, "growth-families", 1000000, "refresh families loaded by --growth (each with two tokens; a fifth expired)")
	fs.Var(&o.serverEnv, "server-env", "NAME=VALUE added to the server's environment (repeatable; after tokenbench's own settings, so it wins), e.g. TOKENSERVER_METRICS_ADDR=127.0.0.1:0")
	fs.BoolVar(&o.otlpSink, "otlp-sink", false, "trace the server: serve an OTLP/HTTP endpoint that drops every export and set the server's OTEL_EXPORTER_OTLP_ENDPOINT to it")
	fs.BoolVar(&o.keepLogs, "keep-logs", false, "keep the temporary directory with the server logs")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("tokenbench: unexpected argument %q", fs.Arg(0))
	}
	if o.quick {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		if !set["duration"] {
			o.duration = time.Second
		}
		if !set["calibrate"] {
			o.calibrate = 500 * time.Millisecond
		}
		if !set["users"] {
			o.users = 32
		}
	}
	o.argon2 = password.Params{Memory: uint32(memKiB), Time: uint32(timeCost), Threads: uint8(threads),
		KeyLen: owasp.KeyLen, SaltLen: owasp.SaltLen}
	return o, o.validate()
}

func (o *options) validate() error {
	var errs []error
	if o.duration <= 0 || o.calibrate <= 0 {
		errs = append(errs, errors.New("--duration and --calibrate must be positive"))
	}
	if o.concurrency < 1 || o.concurrency > 1024 {
		errs = append(errs, errors.New("--concurrency must be between 1 and 1024"))
	}
	if o.maxRequests < 1 {
		errs = append(errs, errors.New("--max-requests must be positive"))
	}
	if o.users < 1 {
		errs = append(errs, errors.New("--users must be positive"))
	}
	if o.serverProcs < 0 {
		errs = append(errs, errors.New("--server-gomaxprocs must not be negative"))
	}
	if o.growth && (o.growthUsers < 1 || o.growthFamilies < 10) {
		errs = append(errs, errors.New("--growth-users must be positive and --growth-families at least 10"))
	}
	if o.hashSlots < 1 {
		errs = append(errs, errors.New("--hash-concurrency must be positive"))
	}
	if o.refreshRate <= 0 || o.overload <= 0 {
		errs = append(errs, errors.New("--refresh-rate and --overload must be positive"))
	}
	return errors.Join(errs...)
}

func envString(getenv func(string) string, name, def string) string {
	if v := getenv(name); v != "" {
		return v
	}
	return def
}

func envInt(getenv func(string) string, name string, def int) int {
	if n, err := strconv.Atoi(getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

func envUint(getenv func(string) string, name string, def uint) uint {
	if n, err := strconv.ParseUint(getenv(name), 10, 32); err == nil && n > 0 {
		return uint(n)
	}
	return def
}
