package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"os"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tokenserver/tokenserver/store/postgres"
)

// The growth run (--growth) fills PostgreSQL with a production-sized
// history before the load: o.growthUsers users and o.growthFamilies refresh
// families (each with its live token and one consumed predecessor), a fifth
// of them expired long enough ago for the purge job to delete. It then
// measures logins and refreshes against those tables, the purge job's rate,
// and refreshes while the purge runs (a purge must never block rotation),
// and the table and index sizes per million families.

// growthResult is the growth run's own JSON section.
type growthResult struct {
	Users             int            `json:"users"`
	Families          int            `json:"families"`
	Tokens            int            `json:"tokens"`
	Expired           int            `json:"expired_families"`
	LoadSeconds       float64        `json:"load_seconds"`
	LoadRowsPerS      float64        `json:"load_rows_per_s"`
	Relations         []relationSize `json:"relations"`
	Purged            int64          `json:"purged_rows"` // families and revocations; their tokens go by cascade
	PurgeSeconds      float64        `json:"purge_seconds"`
	PurgeFamiliesPerS float64        `json:"purge_families_per_s"`
	PurgeTokensPerS   float64        `json:"purge_tokens_per_s"`
	PurgeError        string         `json:"purge_error,omitempty"`
}

// relationSize is one table or index, in bytes and per million families.
type relationSize struct {
	Name          string  `json:"name"`
	Kind          string  `json:"kind"` // "table" (heap + TOAST) or "index"
	Bytes         int64   `json:"bytes"`
	MiBPerMillion float64 `json:"mib_per_million_families"`
}

// growthData is what the load left for the phases: usernames to log in
// with and live refresh tokens to rotate.
type growthData struct {
	usernames []string
	refresh   []string
}

// loadGrowth COPYs the users, families and tokens into the server's
// database (through pgx CopyFrom, as one transaction per table) and
// ANALYZEs them.
func loadGrowth(ctx context.Context, dsn, clientID, passwordHash string, users, families int, log io.Writer) (*growthData, *growthResult, error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return nil, nil, fmt.Errorf("tokenbench: growth: %w", err)
	}
	defer conn.Close(ctx)
	t0 := time.Now()
	now := time.Now().UTC()
	res := &growthResult{Users: users, Families: families, Tokens: 2 * families}

	userIDs := make([]string, users)
	names := make([]string, users)
	n, err := conn.CopyFrom(ctx, pgx.Identifier{"users"},
		[]string{"id", "username", "password_hash", "created_at", "updated_at"},
		pgx.CopyFromSlice(users, func(i int) ([]any, error) {
			userIDs[i] = randomUUID()
			names[i] = fmt.Sprintf("growth-user-%d", i)
			return []any{userIDs[i], names[i], passwordHash, now, now}, nil
		}))
	if err != nil {
		return nil, nil, fmt.Errorf("tokenbench: growth: copy users: %w", err)
	}
	fmt.Fprintf(log, "  %d users copied in %s\n", n, time.Since(t0).Round(time.Millisecond))

	// A fifth of the families expired two days ago: PurgeGrace (24 h) has
	// passed, so the purge deletes them. The others live for 30 days.
	famIDs := make([]string, families)
	famUser := make([]int32, families)
	expired := func(i int) bool { return i%5 == 4 }
	t1 := time.Now()
	n, err = conn.CopyFrom(ctx, pgx.Identifier{"refresh_families"},
		[]string{"id", "client_id", "user_id", "username", "scope", "created_at", "expires_at"},
		pgx.CopyFromSlice(families, func(i int) ([]any, error) {
			famIDs[i] = rand.Text()
			famUser[i] = int32(mrand.IntN(users))
			created, expires := now.Add(-time.Hour), now.Add(30*24*time.Hour)
			if expired(i) {
				created, expires = now.Add(-32*24*time.Hour), now.Add(-48*time.Hour)
				res.Expired++
			}
			u := famUser[i]
			return []any{famIDs[i], clientID, userIDs[u], names[u], "read write", created, expires}, nil
		}))
	if err != nil {
		return nil, nil, fmt.Errorf("tokenbench: growth: copy families: %w", err)
	}
	fmt.Fprintf(log, "  %d refresh families copied in %s\n", n, time.Since(t1).Round(time.Millisecond))

	// Each family: one consumed token and its live successor. Live tokens
	// of a sample of unexpired families are kept to refresh with.
	const keep = 20000
	data := &growthData{}
	t2 := time.Now()
	n, err = conn.CopyFrom(ctx, pgx.Identifier{"refresh_tokens"},
		[]string{"hash", "family_id", "issued_at", "idle_expires_at", "consumed_at", "replaced_by"},
		&tokenRows{n: families, fn: func(i int) ([][]any, error) {
			f := famIDs[i]
			live, liveHash := growthToken()
			_, oldHash := growthToken()
			issued, idle := now.Add(-time.Minute), now.Add(14*24*time.Hour)
			if expired(i) {
				issued, idle = now.Add(-49*time.Hour), now.Add(-48*time.Hour)
			} else if len(data.refresh) < keep && mrand.IntN(families/keep+1) == 0 {
				data.refresh = append(data.refresh, live)
			}
			return [][]any{
				{oldHash, f, issued.Add(-time.Hour), idle, issued, liveHash},
				{liveHash, f, issued, idle, nil, nil},
			}, nil
		}})
	if err != nil {
		return nil, nil, fmt.Errorf("tokenbench: growth: copy tokens: %w", err)
	}
	fmt.Fprintf(log, "  %d refresh tokens copied in %s\n", n, time.Since(t2).Round(time.Millisecond))
	if _, err := conn.Exec(ctx, `ANALYZE users; ANALYZE refresh_families; ANALYZE refresh_tokens; CHECKPOINT`); err != nil {
		return nil, nil, fmt.Errorf("tokenbench: growth: analyze: %w", err)
	}
	res.LoadSeconds = time.Since(t0).Seconds()
	res.LoadRowsPerS = float64(users+3*families) / res.LoadSeconds
	// Logins name random users of the 100 k.
	for range 1024 {
		data.usernames = append(data.usernames, names[mrand.IntN(users)])
	}
	if res.Relations, err = relationSizes(ctx, conn, families); err != nil {
		return nil, nil, err
	}
	return data, res, nil
}

// tokenRows is a pgx.CopyFromSource yielding several rows per item.
type tokenRows struct {
	n, i    int
	pending [][]any
	row     []any
	fn      func(i int) ([][]any, error)
	err     error
}

func (t *tokenRows) Next() bool {
	for len(t.pending) == 0 {
		if t.i >= t.n || t.err != nil {
			return false
		}
		t.pending, t.err = t.fn(t.i)
		t.i++
	}
	t.row, t.pending = t.pending[0], t.pending[1:]
	return true
}
func (t *tokenRows) Values() ([]any, error) { return t.row, t.err }
func (t *tokenRows) Err() error             { return t.err }

// growthToken is a refresh token as the server makes them (32 random bytes,
// base64url) and its stored hash (hex SHA-256).
func growthToken() (token, hash string) {
	var b [32]byte
	_, _ = rand.Read(b[:])
	token = base64.RawURLEncoding.EncodeToString(b[:])
	sum := sha256.Sum256([]byte(token))
	return token, hex.EncodeToString(sum[:])
}

func randomUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// relationSizes lists the sizes of the growth tables and their indexes.
func relationSizes(ctx context.Context, conn *pgx.Conn, families int) ([]relationSize, error) {
	rows, err := conn.Query(ctx, `
		SELECT c.relname, CASE WHEN c.relkind = 'i' THEN 'index' ELSE 'table' END,
			CASE WHEN c.relkind = 'i' THEN pg_relation_size(c.oid) ELSE pg_table_size(c.oid) END
		FROM pg_class c
		WHERE c.oid IN (SELECT unnest(ARRAY['users', 'refresh_families', 'refresh_tokens']::regclass[]))
		   OR c.oid IN (SELECT indexrelid FROM pg_index
		                WHERE indrelid IN (SELECT unnest(ARRAY['users', 'refresh_families', 'refresh_tokens']::regclass[])))
		ORDER BY 3 DESC`)
	if err != nil {
		return nil, fmt.Errorf("tokenbench: growth: sizes: %w", err)
	}
	defer rows.Close()
	var out []relationSize
	for rows.Next() {
		var r relationSize
		if err := rows.Scan(&r.Name, &r.Kind, &r.Bytes); err != nil {
			return nil, fmt.Errorf("tokenbench: growth: sizes: %w", err)
		}
		r.MiBPerMillion = float64(r.Bytes) / mib / (float64(families) / 1e6)
		out = append(out, r)
	}
	return out, rows.Err()
}

// purgePhase runs the purge job's query (postgres.Store.Purge, as
// sessions.RunPurge calls it) once, with the refresh load running
// alongside, and records both.
func (b *bench) purgePhase(ctx context.Context, c *oauthClient, g *growthResult) error {
	st, err := postgres.Open(ctx, postgres.Config{URL: b.env.serverDSN, MaxConns: 2, StatementTimeout: 10 * time.Minute})
	if err != nil {
		return err
	}
	defer st.Close()
	var tokens0, tokens1 int64
	if err := b.countRows(ctx, &tokens0); err != nil {
		return err
	}
	done := make(chan struct{})
	var purged int64
	var purgeErr error
	var purgeTime time.Duration
	name := "refresh grant, during purge"
	fmt.Fprintf(b.log, "  %-22s %d workers, until the purge ends\n", name, b.o.concurrency)
	var res loadResult
	u, err := b.measured(ctx, b.env.server.pid(), name, func() {
		go func() {
			defer close(done)
			t0 := time.Now()
			// RunPurge deletes what stopped mattering PurgeGrace (24 h) ago.
			purged, purgeErr = st.Purge(ctx, time.Now().Add(-24*time.Hour))
			purgeTime = time.Since(t0)
		}()
		lctx, cancel := context.WithCancel(ctx)
		go func() { <-done; cancel() }()
		res = closedLoop(lctx, b.o.concurrency, bounds{MaxRequests: b.o.maxRequests, MaxDuration: 10 * time.Minute},
			func(ctx context.Context, _, _ int) (int, error) { return b.chains.refresh(ctx, c, nil) })
		<-done
	})
	if err != nil {
		return err
	}
	// Requests cut short by the end of the purge are not the server's
	// failures: only completed answers count.
	res.Samples = completedSamples(res.Samples)
	b.phases = append(b.phases, newPhaseResult(name, "closed", b.o.concurrency, 0, res, u))
	if err := b.countRows(ctx, &tokens1); err != nil {
		return err
	}
	g.Purged, g.PurgeSeconds = purged, purgeTime.Seconds()
	if purgeErr != nil {
		g.PurgeError = purgeErr.Error()
	}
	if s := purgeTime.Seconds(); s > 0 {
		g.PurgeFamiliesPerS = float64(purged) / s
		g.PurgeTokensPerS = float64(tokens0-tokens1) / s
	}
	fmt.Fprintf(b.log, "  purge: %d families in %.1fs (%.0f families/s, %.0f tokens/s)\n",
		purged, purgeTime.Seconds(), g.PurgeFamiliesPerS, g.PurgeTokensPerS)
	return nil
}

// countRows counts refresh tokens (an estimate is not enough: the purge's
// cascade is what is measured).
func (b *bench) countRows(ctx context.Context, n *int64) error {
	conn, err := pgx.Connect(ctx, b.env.serverDSN)
	if err != nil {
		return fmt.Errorf("tokenbench: growth: %w", err)
	}
	defer conn.Close(ctx)
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM refresh_tokens`).Scan(n); err != nil {
		return fmt.Errorf("tokenbench: growth: count: %w", err)
	}
	return nil
}

// completedSamples drops the requests the end of the load cancelled.
func completedSamples(s []sample) []sample {
	out := s[:0]
	for _, x := range s {
		if x.status != 0 {
			out = append(out, x)
		}
	}
	return out
}

// runGrowth is the --growth run: set-up as for the benchmark, the growth
// load, then logins, refreshes and the purge against the grown tables.
func runGrowth(ctx context.Context, o *options, getenv func(string) string, stdout, stderr io.Writer) error {
	started := time.Now()
	dir, err := os.MkdirTemp("", "tokenbench-")
	if err != nil {
		return fmt.Errorf("tokenbench: %w", err)
	}
	defer os.RemoveAll(dir)
	env := &benchEnv{dir: dir, getenv: getenv}
	defer env.close()
	b := &bench{o: o, env: env, log: stderr, sink: &tokenSink{limit: 4096}}
	if o.profile {
		b.prof = &profiler{outDir: o.outDir, prefix: started.UTC().Format(resultsTimeFormat) + "-growth",
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
	if err := calibrateArgon2(ctx, &b.cal, o.argon2, o.calibrate); err != nil {
		return err
	}
	b.queueTimeout = queueTimeoutFor(time.Duration(b.cal.Argon2.HashTimeMS * float64(time.Millisecond)))
	if err := setupServer(ctx, env, o); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "growth load: %d users, %d refresh families (COPY)\n", o.growthUsers, o.growthFamilies)
	data, g, err := loadGrowth(ctx, env.serverDSN, env.clientID, env.passwordHash, o.growthUsers, o.growthFamilies, stderr)
	if err != nil {
		return err
	}
	if b.pg, err = newPGProbe(ctx, env.pg.AdminURL(), serverDatabase); err != nil {
		fmt.Fprintf(stderr, "  %v; no PostgreSQL write figures\n", err)
		b.pg = nil
	}
	defer b.pg.close()
	if err := startServer(ctx, env, o, b.queueTimeout); err != nil {
		return err
	}
	fmt.Fprintln(stderr, "load (loopback)")
	b.forms = passwordForms(data.usernames, env.password)
	pwClient := newOAuthClient(newHTTPClient(4*o.hashSlots), env.baseURL, env.clientID, env.clientSecret)
	if err := b.passwordPhase(ctx, pwClient); err != nil {
		return err
	}
	b.chains = make(chainPool, len(data.refresh))
	for _, t := range data.refresh {
		b.chains <- t
	}
	rfClient := newOAuthClient(newHTTPClient(o.concurrency+32), env.baseURL, env.clientID, env.clientSecret)
	if err := b.refreshPhase(ctx, rfClient); err != nil {
		return err
	}
	if err := b.purgePhase(ctx, rfClient, g); err != nil {
		return err
	}

	r := &results{
		Schema: 1, Started: started, Seconds: time.Since(started).Seconds(), Machine: describeMachine(),
		Config: configJSON{PhaseSeconds: o.duration.Seconds(), Concurrency: o.concurrency, Users: o.growthUsers,
			HashSlots: o.hashSlots, ServerGOMAXPROCS: o.serverProcs, Argon2: b.cal.Argon2.Params, SigningAlg: o.signingAlg,
			Quick: o.quick},
		Calibration: b.cal, Phases: b.phases, Growth: g,
	}
	path, err := writeJSON(o.outDir, r)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\ntokenbench --growth: %d users, %d refresh families (%d tokens, %d expired), loaded in %.0fs (%.0f rows/s)\n\n",
		g.Users, g.Families, g.Tokens, g.Expired, g.LoadSeconds, g.LoadRowsPerS)
	if err := writePhases(stdout, b.phases); err != nil {
		return err
	}
	for _, p := range b.phases {
		if w := p.PostgresWrites; w != nil && w.Requests > 0 {
			fmt.Fprintf(stdout, "  %s: %.0f WAL bytes, %.2f commits per request\n", p.Name, w.WALBytesPerRequest, w.CommitsPerRequest)
		}
	}
	fmt.Fprintf(stdout, "\npurge: %d families in %.1fs: %.0f families/s, %.0f tokens/s%s\n\n",
		g.Purged, g.PurgeSeconds, g.PurgeFamiliesPerS, g.PurgeTokensPerS, map[bool]string{true: ", error: " + g.PurgeError}[g.PurgeError != ""])
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RELATION\tKIND\tSIZE\tMIB PER MILLION FAMILIES")
	for _, rel := range g.Relations {
		fmt.Fprintf(tw, "%s\t%s\t%s MiB\t%s\n", rel.Name, rel.Kind, formatNumber(float64(rel.Bytes)/mib), formatNumber(rel.MiBPerMillion))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\nresults in %s (took %s)\n", path, time.Since(started).Round(time.Second))
	return nil
}
