package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	goredis "github.com/redis/go-redis/v9"

	"github.com/tokenserver/tokenserver/keys"
	"github.com/tokenserver/tokenserver/store/memory"
	"github.com/tokenserver/tokenserver/tokenserver/password"
)

// calibration is what this machine can do at best, measured in this process
// with nothing else running: the floors the server is compared with.
type calibration struct {
	Argon2 struct {
		Params         string  `json:"params"`
		OneCorePerS    float64 `json:"one_core_per_s"`
		AllCoresPerS   float64 `json:"all_cores_per_s"`
		Goroutines     int     `json:"goroutines"`
		HashTimeMS     float64 `json:"hash_time_ms"` // 1 / one-core rate
		QueueTimeoutMS float64 `json:"server_queue_timeout_ms"`
	} `json:"argon2id"`
	Sign struct {
		Alg          string  `json:"alg"`
		OneCorePerS  float64 `json:"one_core_per_s"`
		AllCoresPerS float64 `json:"all_cores_per_s"`
		CostUS       float64 `json:"cost_us"`
		// Verify is the same key's signature check.
		VerifyOneCorePerS float64 `json:"verify_one_core_per_s"`
		VerifyCostUS      float64 `json:"verify_cost_us"`
	} `json:"sign"`
	Postgres struct {
		Fsync       bool      `json:"fsync"`
		Concurrency int       `json:"concurrency"`
		CommitsPerS float64   `json:"commits_per_s"`
		Latency     latencyMS `json:"latency_ms"`
		// CPU per commit of the client (pgx, in this process) and of the
		// rest of the machine (PostgreSQL).
		ClientCPUPerCommitUS float64 `json:"client_cpu_per_commit_us"`
		OtherCPUPerCommitUS  float64 `json:"other_cpu_per_commit_us"`
	} `json:"postgres_commit"`
	Redis struct {
		RoundTrip   latencyMS `json:"ping_round_trip_ms"`
		Concurrency int       `json:"concurrency"`
		GetsPerS    float64   `json:"gets_per_s"`
	} `json:"redis"`
	HTTPFloor phaseResult `json:"http_floor"`
	// ES256Verify is one bare ES256 verification (crypto/ecdsa and
	// SHA-256, whatever the signing algorithm): the unit of DPoP's cost.
	ES256Verify struct {
		OneCorePerS float64 `json:"one_core_per_s"`
		CostUS      float64 `json:"cost_us"`
	} `json:"es256_verify"`
}

// latencyMS is latencyStats in milliseconds, for the JSON and the table.
type latencyMS struct {
	P50 float64 `json:"p50"`
	P95 float64 `json:"p95"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

func toMS(s latencyStats) latencyMS {
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	return latencyMS{P50: ms(s.P50), P95: ms(s.P95), P99: ms(s.P99), Max: ms(s.Max)}
}

// measureRate runs fn on g goroutines for d and returns completed calls per
// second. The first error stops the measurement.
func measureRate(ctx context.Context, g int, d time.Duration, fn func() error) (float64, error) {
	var (
		n        atomic.Int64
		wg       sync.WaitGroup
		firstErr error
		errOnce  sync.Once
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	start := time.Now()
	deadline := start.Add(d)
	for range g {
		wg.Go(func() {
			for ctx.Err() == nil && time.Now().Before(deadline) {
				if err := fn(); err != nil {
					errOnce.Do(func() { firstErr = err; cancel() })
					return
				}
				n.Add(1)
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return 0, firstErr
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	return float64(n.Load()) / time.Since(start).Seconds(), nil
}

// calibrateArgon2 measures password verification at p on one core and on
// GOMAXPROCS cores, through the same Hasher the server uses.
func calibrateArgon2(ctx context.Context, cal *calibration, p password.Params, d time.Duration) error {
	procs := runtime.GOMAXPROCS(0)
	h, err := password.NewHasher(password.Config{Params: p, MaxConcurrent: procs, QueueTimeout: time.Minute, AllowWeak: true})
	if err != nil {
		return fmt.Errorf("tokenbench: argon2id: %w", err)
	}
	const pw = "calibration password"
	encoded, err := h.Hash(ctx, pw)
	if err != nil {
		return fmt.Errorf("tokenbench: argon2id: %w", err)
	}
	verify := func() error {
		ok, _, err := h.Verify(ctx, pw, encoded)
		if err == nil && !ok {
			err = fmt.Errorf("tokenbench: argon2id calibration hash did not verify")
		}
		return err
	}
	a := &cal.Argon2
	a.Params = fmt.Sprintf("m=%d,t=%d,p=%d", p.Memory, p.Time, p.Threads)
	a.Goroutines = procs
	if a.OneCorePerS, err = measureRate(ctx, 1, d, verify); err != nil {
		return err
	}
	if a.AllCoresPerS, err = measureRate(ctx, procs, d, verify); err != nil {
		return err
	}
	a.HashTimeMS = 1000 / a.OneCorePerS
	return nil
}

// calibrateSign measures access-token signing through keys.Manager.
func calibrateSign(ctx context.Context, cal *calibration, alg string, d time.Duration) error {
	kek, err := keys.RandomKEK()
	if err != nil {
		return err
	}
	sealer, err := keys.NewSealer(kek)
	if err != nil {
		return err
	}
	m, err := keys.NewManager(ctx, keys.Config{Store: memory.New(time.Now), Sealer: sealer, Algorithm: alg})
	if err != nil {
		return fmt.Errorf("tokenbench: signing keys: %w", err)
	}
	// The claims of a typical access token (RFC 9068 §2.2).
	payload := []byte(`{"iss":"http://127.0.0.1:8080","sub":"0b7e6a52-5d0e-4b55-9a0d-3c2f0f3c8a11",` +
		`"aud":["http://127.0.0.1:8080"],"exp":1767225600,"iat":1767224700,"jti":"Yk3x2mQ9cV7nR1tL8sW4pA",` +
		`"client_id":"bench","scope":"read write","sid":"5a1c9e2b-7f3d-4c8a-b6e0-2d9f1a4c7b35","username":"bench-user-1"}`)
	sign := func() error { _, err := m.Sign(payload); return err }
	s := &cal.Sign
	s.Alg = alg
	if s.OneCorePerS, err = measureRate(ctx, 1, d/2, sign); err != nil {
		return err
	}
	if s.AllCoresPerS, err = measureRate(ctx, runtime.GOMAXPROCS(0), d/2, sign); err != nil {
		return err
	}
	s.CostUS = 1e6 / s.OneCorePerS
	// Verification is the floor of introspecting a JWT.
	token, err := m.Sign(payload)
	if err != nil {
		return err
	}
	verifyRate, err := measureRate(ctx, 1, d/2, func() error { _, err := m.Verify(token); return err })
	if err != nil {
		return fmt.Errorf("tokenbench: verify: %w", err)
	}
	s.VerifyOneCorePerS = verifyRate
	s.VerifyCostUS = 1e6 / verifyRate
	return nil
}

// calibratePostgres measures single-row INSERT commits (autocommit, one
// round trip each) by `workers` connections: the cost of one durable write at
// the refresh phase's concurrency, group commit included.
func calibratePostgres(ctx context.Context, cal *calibration, dsn string, workers int, d time.Duration) error {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return fmt.Errorf("tokenbench: postgres floor: %w", err)
	}
	cfg.MaxConns = int32(workers)
	cfg.MinConns = int32(workers)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("tokenbench: postgres floor: %w", err)
	}
	defer pool.Close()
	// Shaped like a refresh-token row: a 32-byte hash key and a timestamp.
	if _, err := pool.Exec(ctx, `CREATE TABLE commit_floor (
		hash bytea PRIMARY KEY, family_id bigint NOT NULL, issued_at timestamptz NOT NULL)`); err != nil {
		return fmt.Errorf("tokenbench: postgres floor: %w", err)
	}
	insert := func(ctx context.Context, w int) error {
		var h [32]byte
		_, _ = rand.Read(h[:])
		_, err := pool.Exec(ctx, `INSERT INTO commit_floor (hash, family_id, issued_at) VALUES ($1, $2, now())`, h[:], w)
		return err
	}
	// Warm every connection (and the prepared statement on it) first.
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() { _ = insert(ctx, w) })
	}
	wg.Wait()

	var failed atomic.Int64
	self0, _ := processCPU(os.Getpid())
	busy0, _, _ := machineCPU()
	res := closedLoop(ctx, workers, bounds{MaxRequests: 1 << 30, MaxDuration: d}, func(ctx context.Context, w, _ int) (int, error) {
		if err := insert(ctx, w); err != nil {
			failed.Add(1)
			return 0, err
		}
		return 200, nil
	})
	if n := failed.Load(); n > 0 {
		return fmt.Errorf("tokenbench: postgres floor: %d inserts failed", n)
	}
	p := &cal.Postgres
	p.Fsync = true
	p.Concurrency = workers
	p.CommitsPerS = float64(res.ok()) / res.Elapsed.Seconds()
	p.Latency = toMS(summarize(res.Samples, nil))
	// What one commit costs the machine: this process (pgx) and the rest
	// (the PostgreSQL backends, WAL writer, and anything else running).
	self1, err1 := processCPU(os.Getpid())
	busy1, _, err2 := machineCPU()
	if n := res.ok(); n > 0 && err1 == nil && err2 == nil {
		p.ClientCPUPerCommitUS = float64(self1-self0) / float64(time.Microsecond) / float64(n)
		p.OtherCPUPerCommitUS = max(0, float64(busy1-busy0-(self1-self0))/float64(time.Microsecond)/float64(n))
	}
	return nil
}

// calibrateRedis measures PING round trips on one connection and GET
// throughput with `workers` connections.
func calibrateRedis(ctx context.Context, cal *calibration, addr string, workers int, d time.Duration) error {
	rdb := goredis.NewClient(&goredis.Options{Addr: addr, PoolSize: workers, MinIdleConns: workers})
	defer rdb.Close()
	if err := rdb.Set(ctx, "tokenbench:floor", "x", 0).Err(); err != nil {
		return fmt.Errorf("tokenbench: redis floor: %w", err)
	}
	ping := closedLoop(ctx, 1, bounds{MaxRequests: 1 << 30, MaxDuration: d / 2}, func(ctx context.Context, _, _ int) (int, error) {
		if err := rdb.Ping(ctx).Err(); err != nil {
			return 0, err
		}
		return 200, nil
	})
	cal.Redis.RoundTrip = toMS(summarize(ping.Samples, isOK))
	cal.Redis.Concurrency = workers
	var err error
	cal.Redis.GetsPerS, err = measureRate(ctx, workers, d/2, func() error { return rdb.Get(ctx, "tokenbench:floor").Err() })
	if err != nil {
		return fmt.Errorf("tokenbench: redis floor: %w", err)
	}
	return nil
}
