package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"
)

// Keycloak's published sizing (Keycloak High Availability guide, "Concepts
// for sizing CPU and memory resources"): one vCPU per 15 password-based user
// logins per second, per 120 client credential grants per second and per
// 120 refresh-token requests per second.
const (
	keycloakLoginsPerVCPU            = 15
	keycloakClientCredentialsPerVCPU = 120
	keycloakRefreshesPerVCPU         = 120
	// Keycloak's disk sizing: 1,400 write IOPS per 100 logins/refreshes
	// per second, 14 write I/Os per request.
	keycloakWriteIOsPerRequest = 14
)

// target is the bound a figure must meet, on its value or on its ratio to
// its floor.
type target struct {
	Of    string  `json:"of"` // "ratio" or "value"
	Op    string  `json:"op"` // ">=" or "<="
	Bound float64 `json:"bound"`
}

func (t target) met(v float64) bool {
	if t.Op == ">=" {
		return v >= t.Bound
	}
	return v <= t.Bound
}

// figure is one line of the report: a measured value, the floor it is
// compared with, their ratio, and the target.
type figure struct {
	Name      string  `json:"name"`
	Unit      string  `json:"unit"`
	Value     float64 `json:"value"`
	Floor     float64 `json:"floor,omitempty"`
	FloorName string  `json:"floor_name,omitempty"`
	Ratio     float64 `json:"ratio,omitempty"` // Value / Floor
	Target    *target `json:"target,omitempty"`
	// Result is "pass", "miss", "info" (no target) or "n/a" (not measured).
	Result string `json:"result"`
	Note   string `json:"note,omitempty"`
}

// newFigure computes the ratio and the result. A floor of 0 means none; a
// NaN value means the figure could not be measured.
func newFigure(name, unit string, value float64, floorName string, floor float64, t *target) figure {
	f := figure{Name: name, Unit: unit, Value: value, FloorName: floorName, Floor: floor, Target: t}
	if math.IsNaN(value) {
		f.Value, f.Result = 0, "n/a"
		return f
	}
	if floor > 0 {
		f.Ratio = value / floor
	}
	switch {
	case t == nil:
		f.Result = "info"
	case t.Of == "ratio" && floor <= 0:
		f.Result = "n/a"
	case t.Of == "ratio":
		f.Result = passMiss(t.met(f.Ratio))
	default:
		f.Result = passMiss(t.met(value))
	}
	return f
}

func passMiss(ok bool) string {
	if ok {
		return "pass"
	}
	return "miss"
}

func atLeast(ratio float64) *target { return &target{Of: "ratio", Op: ">=", Bound: ratio} }
func atMost(ratio float64) *target  { return &target{Of: "ratio", Op: "<=", Bound: ratio} }
func valueAtMost(v float64) *target { return &target{Of: "value", Op: "<=", Bound: v} }

// figures turns the calibration and the phases into the report's lines,
// with the targets of issue #6.
func (b *bench) figures() []figure {
	var fs []figure
	pw, rf, jw, in := b.phase("password grant"), b.phase("refresh grant"), b.phase("jwks"), b.phase("introspection")
	cc := b.phase("client_credentials grant")
	idle, ovPw, ovRf := b.phase("refresh stream, idle"), b.phase("password overload"), b.phase("refresh stream, overload")
	okRate := func(p *phaseResult) float64 {
		if p == nil || p.Skipped != "" {
			return math.NaN()
		}
		return p.OKPerS
	}
	perCPUSecond := func(p *phaseResult) float64 {
		if p == nil || p.Skipped != "" || p.ServerCPUPerRequestUS <= 0 {
			return math.NaN()
		}
		return 1e6 / p.ServerCPUPerRequestUS
	}
	field := func(p *phaseResult, get func(*phaseResult) float64) float64 {
		if p == nil || p.Skipped != "" {
			return math.NaN()
		}
		return get(p)
	}
	httpFloor := b.cal.HTTPFloor.OKPerS

	fs = append(fs,
		newFigure("password grants", "/s", okRate(pw), "argon2id, all cores", b.cal.Argon2.AllCoresPerS, atLeast(0.9)),
		newFigure("refresh grants", "/s", okRate(rf),
			fmt.Sprintf("PostgreSQL commits, %d conns", b.cal.Postgres.Concurrency), b.cal.Postgres.CommitsPerS, atLeast(0.7)),
		newFigure("server CPU per refresh", "µs", field(rf, func(p *phaseResult) float64 { return p.ServerCPUPerRequestUS }),
			"", 0, valueAtMost(250)),
		newFigure("refreshes per server CPU-second", "/s", perCPUSecond(rf), "Keycloak per vCPU", keycloakRefreshesPerVCPU, atLeast(10)),
		newFigure("logins per server CPU-second", "/s", perCPUSecond(pw), "Keycloak per vCPU", keycloakLoginsPerVCPU, nil),
		newFigure("JWKS", "/s", okRate(jw), "HTTP fixed bytes", httpFloor, atLeast(0.8)),
		newFigure("introspection (JWT)", "/s", okRate(in), "HTTP fixed bytes", httpFloor, atLeast(0.5)),
		newFigure("client_credentials grants", "/s", okRate(cc), "HTTP fixed bytes", httpFloor, nil),
		newFigure("server CPU per client_credentials", "µs", field(cc, func(p *phaseResult) float64 { return p.ServerCPUPerRequestUS }),
			"", 0, nil),
		newFigure("client_credentials per server CPU-second", "/s", perCPUSecond(cc),
			"Keycloak per vCPU", keycloakClientCredentialsPerVCPU, atLeast(50)),
		newFigure("introspections per server CPU-second", "/s", perCPUSecond(in), "", 0, nil),
	)
	writes := func(p *phaseResult, get func(*pgWrites) float64) float64 {
		if p == nil || p.Skipped != "" || p.PostgresWrites == nil || p.PostgresWrites.Requests == 0 {
			return math.NaN()
		}
		return get(p.PostgresWrites)
	}
	writeIOs := func(w *pgWrites) float64 {
		if w.StatWALSyncsPerRequest == 0 && w.StatWALWritesPerRequest == 0 {
			return math.NaN() // the late statistics reading was not taken
		}
		return w.StatWALWritesPerRequest + w.StatWALSyncsPerRequest + w.StatBuffersWrittenPerRequest
	}
	fs = append(fs,
		newFigure("PostgreSQL WAL per refresh", "B", writes(rf, func(w *pgWrites) float64 { return w.WALBytesPerRequest }), "", 0, nil),
		newFigure("PostgreSQL commits per refresh", "", writes(rf, func(w *pgWrites) float64 { return w.CommitsPerRequest }), "", 0, nil),
		newFigure("PostgreSQL write I/Os per refresh", "", writes(rf, writeIOs),
			"Keycloak per refresh", keycloakWriteIOsPerRequest, nil),
		newFigure("PostgreSQL WAL per login", "B", writes(pw, func(w *pgWrites) float64 { return w.WALBytesPerRequest }), "", 0, nil),
		newFigure("PostgreSQL commits per login", "", writes(pw, func(w *pgWrites) float64 { return w.CommitsPerRequest }), "", 0, nil),
	)

	hashMS := b.cal.Argon2.HashTimeMS
	queueMS := float64(b.queueTimeout) / float64(time.Millisecond)
	ovAccepted := field(ovPw, func(p *phaseResult) float64 {
		if p.OK == 0 {
			return math.NaN()
		}
		return p.Latency.P99
	})
	ovRejected := field(ovPw, func(p *phaseResult) float64 {
		if p.RejectedLatency == nil {
			return math.NaN()
		}
		return p.RejectedLatency.P99
	})
	shed := field(ovPw, func(p *phaseResult) float64 {
		if p.Requests == 0 {
			return math.NaN()
		}
		return 100 * float64(p.Rejected) / float64(p.Requests)
	})
	fs = append(fs,
		newFigure("overload: accepted login p99", "ms", ovAccepted, "one argon2id hash", hashMS, atMost(10)),
		newFigure("overload: rejected (429/503) p99", "ms", ovRejected, "hash queue timeout", queueMS, atMost(1.5)),
		newFigure("overload: share shed with 429/503", "%", shed, "", 0, nil),
		newFigure("overload: other errors", "", field(ovPw, func(p *phaseResult) float64 { return float64(p.Errors) }), "", 0, valueAtMost(0)),
		newFigure("overload: server peak RSS", "MiB", field(ovPw, func(p *phaseResult) float64 { return p.ServerPeakRSSMiB }), "", 0, valueAtMost(150)),
		newFigure("overload: refresh p99", "ms", field(ovRf, func(p *phaseResult) float64 { return p.Latency.P99 }),
			"refresh p99 alone", field(idle, func(p *phaseResult) float64 { return p.Latency.P99 }), atMost(2)),
		newFigure("idle RSS", "MiB", b.idleRSSMiB, "", 0, valueAtMost(30)),
	)
	return append(fs, b.dpopFigures()...)
}

// formatNumber prints v with 3 significant digits (at least integer precision
// for large values).
func formatNumber(v float64) string {
	switch a := math.Abs(v); {
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

func formatValue(v float64, unit string) string {
	switch unit {
	case "":
		return formatNumber(v)
	case "/s", "%":
		return formatNumber(v) + unit
	default:
		return formatNumber(v) + " " + unit
	}
}

func (t *target) String(unit string) string {
	if t == nil {
		return ""
	}
	op := map[string]string{">=": "≥", "<=": "≤"}[t.Op]
	if t.Of == "ratio" {
		return fmt.Sprintf("%s %s×", op, formatNumber(t.Bound))
	}
	return op + " " + formatValue(t.Bound, unit)
}

// writeFigures prints the figures as an aligned table.
func writeFigures(w io.Writer, fs []figure) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FIGURE\tVALUE\tFLOOR\tRATIO\tTARGET\tRESULT")
	for _, f := range fs {
		value, floor, ratio := "n/a", "", ""
		if f.Result != "n/a" {
			value = formatValue(f.Value, f.Unit)
		}
		if f.FloorName != "" {
			floor = f.FloorName
			if f.Floor > 0 {
				floor += " " + formatValue(f.Floor, f.Unit)
			}
		}
		if f.Ratio > 0 && f.Result != "n/a" {
			ratio = formatNumber(f.Ratio) + "×"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", f.Name, value, floor, ratio, f.Target.String(f.Unit), f.Result)
	}
	return tw.Flush()
}

// writePhases prints one line per load phase.
func writePhases(w io.Writer, ps []phaseResult) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PHASE\tLOAD\tREQUESTS\tOK/S\tP50\tP95\tP99\tREJECTED\tERRORS\tSERVER CPU/REQ\tGEN CPU/REQ\tOTHER CPU/REQ\tBUSY\tPEAK RSS")
	for _, p := range ps {
		if p.Skipped != "" {
			fmt.Fprintf(tw, "%s\tskipped: %s\t\t\t\t\t\t\t\t\t\t\t\t\n", p.Name, p.Skipped)
			continue
		}
		load := fmt.Sprintf("%d workers", p.Workers)
		if p.Mode == "open" {
			load = formatNumber(p.OfferedPerS) + "/s offered"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s ms\t%s ms\t%s ms\t%d\t%d\t%s µs\t%s µs\t%s µs\t%.0f%%\t%s MiB\n", p.Name, load, p.Requests,
			formatNumber(p.OKPerS), formatNumber(p.Latency.P50), formatNumber(p.Latency.P95), formatNumber(p.Latency.P99),
			p.Rejected, p.Errors, formatNumber(p.ServerCPUPerRequestUS), formatNumber(p.GeneratorCPUPerRequestUS),
			formatNumber(p.OtherCPUPerRequestUS), p.MachineBusyPct, formatNumber(p.ServerPeakRSSMiB))
	}
	return tw.Flush()
}

// writeCalibration prints the floors measured on this machine.
func writeCalibration(w io.Writer, c *calibration) {
	a, s, p, r, h := c.Argon2, c.Sign, c.Postgres, c.Redis, c.HTTPFloor
	fmt.Fprintf(w, "  argon2id %s: %s/s on one core (%s ms per hash), %s/s on %d cores; server queue timeout %s ms\n",
		a.Params, formatNumber(a.OneCorePerS), formatNumber(a.HashTimeMS), formatNumber(a.AllCoresPerS), a.Goroutines, formatNumber(a.QueueTimeoutMS))
	fmt.Fprintf(w, "  %s sign: %s/s on one core (%s µs), %s/s on all cores; verify: %s/s on one core (%s µs)\n",
		s.Alg, formatNumber(s.OneCorePerS), formatNumber(s.CostUS), formatNumber(s.AllCoresPerS),
		formatNumber(s.VerifyOneCorePerS), formatNumber(s.VerifyCostUS))
	fmt.Fprintf(w, "  PostgreSQL (fsync on) single-row commits: %s/s with %d connections, p50 %s ms, p99 %s ms; CPU per commit %s µs client + %s µs server\n",
		formatNumber(p.CommitsPerS), p.Concurrency, formatNumber(p.Latency.P50), formatNumber(p.Latency.P99),
		formatNumber(p.ClientCPUPerCommitUS), formatNumber(p.OtherCPUPerCommitUS))
	fmt.Fprintf(w, "  Redis: PING round trip p50 %s ms, p99 %s ms; %s GET/s with %d connections\n",
		formatNumber(r.RoundTrip.P50), formatNumber(r.RoundTrip.P99), formatNumber(r.GetsPerS), r.Concurrency)
	fmt.Fprintf(w, "  ES256 verify (crypto/ecdsa, the unit of DPoP's cost): %s/s on one core (%s µs)\n",
		formatNumber(c.ES256Verify.OneCorePerS), formatNumber(c.ES256Verify.CostUS))
	fmt.Fprintf(w, "  HTTP fixed bytes: %s/s with %d workers, p99 %s ms, %s µs server CPU per request\n",
		formatNumber(h.OKPerS), h.Workers, formatNumber(h.Latency.P99), formatNumber(h.ServerCPUPerRequestUS))
}

// results is the JSON document of one run.
type results struct {
	Schema      int           `json:"schema"`
	Started     time.Time     `json:"started"`
	Seconds     float64       `json:"seconds"`
	Machine     machineInfo   `json:"machine"`
	Config      configJSON    `json:"config"`
	Calibration calibration   `json:"calibration"`
	Phases      []phaseResult `json:"phases"`
	Figures     []figure      `json:"figures"`
	IdleRSSMiB  float64       `json:"idle_rss_mib"`
	EndRSSMiB   float64       `json:"end_rss_mib"`
	// Growth is the --growth run's load, purge and sizes.
	Growth *growthResult `json:"growth,omitempty"`
	// DPoPVerifier is the resource server's cost of a DPoP request against
	// a Bearer one, in-process.
	DPoPVerifier *verifierResult `json:"dpop_verifier,omitempty"`
}

// configJSON records the settings a run used.
type configJSON struct {
	PhaseSeconds      float64 `json:"phase_seconds"`
	Concurrency       int     `json:"concurrency"`
	Users             int     `json:"users"`
	HashSlots         int     `json:"hash_concurrency"`
	ServerGOMAXPROCS  int     `json:"server_gomaxprocs,omitempty"`
	Argon2            string  `json:"argon2id"`
	SigningAlg        string  `json:"signing_alg"`
	RefreshStreamPerS float64 `json:"refresh_stream_per_s"`
	Overload          float64 `json:"overload_factor"`
	QueueTimeoutMS    float64 `json:"hash_queue_timeout_ms"`
	Quick             bool    `json:"quick"`
	// ServerEnv is --server-env; OTLPSink whether the server traced to
	// tokenbench's dropping OTLP endpoint (--otlp-sink).
	ServerEnv []string `json:"server_env,omitempty"`
	OTLPSink  bool     `json:"otlp_sink,omitempty"`
}

// resultsTimeFormat names the files of one run.
const resultsTimeFormat = "20060102T150405Z"

// writeJSON writes r to dir/<timestamp>.json and returns the path.
func writeJSON(dir string, r *results) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("tokenbench: results: %w", err)
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return "", fmt.Errorf("tokenbench: results: %w", err)
	}
	path := filepath.Join(dir, r.Started.UTC().Format(resultsTimeFormat)+".json")
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return "", fmt.Errorf("tokenbench: results: %w", err)
	}
	return path, nil
}

// summaryLine counts the results, for the last line of the output.
func summaryLine(fs []figure) string {
	counts := map[string]int{}
	for _, f := range fs {
		counts[f.Result]++
	}
	var parts []string
	for _, k := range []string{"pass", "miss", "n/a"} {
		if counts[k] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[k], k))
		}
	}
	return strings.Join(parts, ", ")
}
