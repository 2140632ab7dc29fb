package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tokenserver/tokenserver/internal/e2etest"
	"github.com/tokenserver/tokenserver/store/storetest"
)

// obsConfig is one observability setting of BenchmarkRefreshObservability:
// serve's flags and the tracing variables.
type obsConfig struct {
	name    string
	metrics bool
	audit   bool
	access  bool
	// sampler is OTEL_TRACES_SAMPLER(_ARG) ("": tracing off; "on": the
	// SDK's default, parentbased_always_on; else a parent-based ratio).
	sampler string
}

func obsConfigs() []obsConfig {
	return []obsConfig{
		{name: "off"},
		{name: "metrics", metrics: true},
		{name: "audit", audit: true},
		{name: "accesslog", access: true},
		{name: "tracing100", sampler: "on"},
		{name: "tracing10", sampler: "0.1"},
		{name: "all100", metrics: true, audit: true, access: true, sampler: "on"},
		{name: "all10", metrics: true, audit: true, access: true, sampler: "0.1"},
		// Issue 11's target names metrics, tracing and audit (the access
		// log is a switch of its own): at 10 % and at 1 % sampling.
		{name: "metricsaudit", metrics: true, audit: true},
		{name: "target10", metrics: true, audit: true, sampler: "0.1"},
		{name: "target1", metrics: true, audit: true, sampler: "0.01"},
	}
}

// BenchmarkRefreshObservability measures one refresh grant through serve's
// whole handler stack (the handler serve would listen with: the server-span middleware, the
// admin API mux, tokenserver with the RED observer, access log and audit
// sink as wired by runServe) on real PostgreSQL and Redis, with each
// observability setting off and on. The handler is driven in-process
// (env.serveHandler), so the figure has no HTTP client in it; net/http's
// connection handling is left out too, the same for every setting.
//
// Wall-clock time on a shared machine is noise; count instructions:
//
//	go test -c -o /tmp/ts.test ./cmd/tokenserver
//	valgrind --tool=callgrind /tmp/ts.test -test.run '^$' \
//	    -test.bench 'RefreshObservability/off$' -test.benchtime 400x
//
// and again with another count; the difference of the totals divided by
// the difference of the counts is the instructions per refresh (set-up
// cancels). BENCHMARKS.md has the figures.
func BenchmarkRefreshObservability(b *testing.B) {
	for _, c := range obsConfigs() {
		// The function runs twice (b.N = 1, then the count), and a
		// sub-benchmark's cleanups run after each: one server serves both
		// and lives until the parent's cleanup.
		var rb *refreshBench
		parent := b
		b.Run(c.name, func(b *testing.B) {
			if rb == nil {
				rb = startRefreshBench(parent, b, c)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				rb.refresh(b)
			}
		})
	}
}

// refreshBench is a served handler with one logged-in session.
type refreshBench struct {
	h            http.Handler
	logPath      string
	auth         string
	refreshToken string
}

// startRefreshBench starts the servers and serve on parent (they outlive
// the runs of sub) and sets the sampler's variables for sub's first run:
// the tracer provider reads them when serve builds it.
func startRefreshBench(parent, sub *testing.B, c obsConfig) *refreshBench {
	b := parent
	dir := b.TempDir()
	kek := make([]byte, 32)
	for i := range kek {
		kek[i] = byte(i + 1)
	}
	rd := storetest.StartRedis(b)
	envm := map[string]string{
		"DATABASE_URL":             storetest.StartPostgres(b),
		"REDIS_URL":                rd.URL(),
		"TOKENSERVER_REDIS_PREFIX": rd.Prefix,
		"TOKENSERVER_KEK":          base64.StdEncoding.EncodeToString(kek),
		"TOKENSERVER_ADDR":         "127.0.0.1:0",
		"TOKENSERVER_LOG_FORMAT":   "json",
		"TOKENSERVER_ACCESS_LOG":   "false",
	}
	if v := os.Getenv("GOMAXPROCS"); v != "" {
		// Passed on, or serve would raise the process's GOMAXPROCS
		// (schedprocs.go); under valgrind GOMAXPROCS=1 keeps idle Ps
		// from spinning, which costs instructions unrelated to requests.
		envm["GOMAXPROCS"] = v
	}
	if c.metrics {
		envm["TOKENSERVER_METRICS_ADDR"] = "127.0.0.1:0" // recorded; the listener is not started
	}
	if c.audit {
		envm["TOKENSERVER_AUDIT_LOG"] = filepath.Join(dir, "audit.log")
	}
	if c.access {
		envm["TOKENSERVER_ACCESS_LOG"] = "true"
	}
	if c.sampler != "" {
		envm["OTEL_EXPORTER_OTLP_ENDPOINT"] = startOTLPSink(b)
		// The SDK reads the sampler from the process environment.
		if c.sampler == "on" {
			sub.Setenv("OTEL_TRACES_SAMPLER", "parentbased_always_on")
		} else {
			sub.Setenv("OTEL_TRACES_SAMPLER", "parentbased_traceidratio")
			sub.Setenv("OTEL_TRACES_SAMPLER_ARG", c.sampler)
		}
	}
	cli := func(stdin string, args ...string) string {
		var out, errOut e2etest.SyncBuffer
		if err := run(context.Background(), args, envFrom(envm), strings.NewReader(stdin), &out, &errOut); err != nil {
			b.Fatalf("tokenserver %s: %v\n%s%s", strings.Join(args, " "), err, out.String(), errOut.String())
		}
		return out.String()
	}
	cli("", "migrate")
	out := cli("", "client", "add", "--generate-secret", "--scopes", "read", "app")
	_, secret, ok := strings.Cut(out, "client secret (shown once, store it now): ")
	if !ok {
		b.Fatalf("client add did not print the secret:\n%s", out)
	}
	cli("bench-password-1\n", "user", "add", "alice")

	// The server's log goes to a file, as a container's stderr goes to a
	// pipe: every access-log line is a write.
	logFile, err := os.Create(filepath.Join(dir, "server.log"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { logFile.Close() })
	handlers := make(chan http.Handler, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var serveErr error
	e := env{getenv: envFrom(envm), stdin: strings.NewReader(""), stdout: io.Discard, stderr: logFile,
		serveHandler: func(ctx context.Context, h http.Handler) error {
			handlers <- h
			<-ctx.Done()
			return nil
		}}
	go func() {
		defer close(done)
		serveErr = runEnv(ctx, e, []string{"serve"})
	}()
	b.Cleanup(func() {
		cancel()
		<-done
		if serveErr != nil {
			b.Errorf("serve: %v", serveErr)
		}
	})
	var h http.Handler
	select {
	case h = <-handlers:
	case <-done:
		b.Fatalf("serve ended before serving: %v", serveErr)
	}
	if sub.Failed() {
		b.FailNow()
	}
	rb := &refreshBench{h: h, logPath: logFile.Name(), auth: "Basic " + base64.StdEncoding.EncodeToString([]byte("app:"+strings.TrimSpace(secret)))}
	rb.refreshToken = rb.token(b, url.Values{"grant_type": {"password"}, "username": {"alice"},
		"password": {"bench-password-1"}, "scope": {"read"}})
	return rb
}

// refresh rotates the session's refresh token once.
func (rb *refreshBench) refresh(b *testing.B) {
	rb.refreshToken = rb.token(b, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rb.refreshToken}})
}

// token posts form to /token and returns the new refresh token.
func (rb *refreshBench) token(b *testing.B, form url.Values) string {
	req := httptest.NewRequest(http.MethodPost, "/token", strings.NewReader(form.Encode()))
	req.RemoteAddr = "192.0.2.10:40000"
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", rb.auth)
	rec := httptest.NewRecorder()
	rb.h.ServeHTTP(rec, req)
	var body struct {
		RefreshToken string `json:"refresh_token"`
	}
	if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &body) != nil || body.RefreshToken == "" {
		log, _ := os.ReadFile(rb.logPath)
		b.Fatalf("%s grant: status %d: %s\nserver log:\n%s", form.Get("grant_type"), rec.Code, rec.Body, log)
	}
	return body.RefreshToken
}

// startOTLPSink is an OTLP/HTTP collector that reads and drops every
// export (the exporter's cost is the server's; a collector's is not).
func startOTLPSink(b *testing.B) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	b.Cleanup(srv.Close)
	return srv.URL
}
