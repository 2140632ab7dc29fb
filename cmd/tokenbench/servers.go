package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/tokenserver/tokenserver/internal/testservers"
	"github.com/tokenserver/tokenserver/tokenserver/password"
)

// benchEnv is everything the benchmark started: PostgreSQL and Redis (the
// test helpers' servers), the token server as a subprocess, and what the
// setup registered in it.
type benchEnv struct {
	dir    string
	getenv func(string) string

	pg        *testservers.PostgresServer
	redis     *testservers.RedisServer
	serverDSN string // the token server's database
	floorDSN  string // a separate database for the commit floor

	serverBin string
	kek       string
	server    *process
	baseURL   string
	otlpSink  *otlpSink

	clientID     string
	clientSecret string
	// serviceID and serviceSecret are a client registered for
	// client_credentials only.
	serviceID     string
	serviceSecret string
	usernames     []string
	password      string
	passwordHash  string // argon2id of password at the server's parameters
}

// serverDatabase is the token server's database.
const serverDatabase = "tokenbench"

// startBackends starts PostgreSQL with its durability settings on (fsync,
// synchronous_commit: a refresh must survive a crash, so its floor is a
// durable commit) and Redis, both on loopback.
func startBackends(env *benchEnv, log io.Writer) error {
	t0 := time.Now()
	pg, err := testservers.StartPostgresServer(testservers.PostgresOptions{Fsync: true})
	if err != nil {
		return fmt.Errorf("tokenbench: postgres: %w", err)
	}
	env.pg = pg
	if env.serverDSN, err = pg.CreateDatabase(serverDatabase); err != nil {
		return err
	}
	if env.floorDSN, err = pg.CreateDatabase("tokenbench_floor"); err != nil {
		return err
	}
	rd, err := testservers.StartRedisServer()
	if err != nil {
		return fmt.Errorf("tokenbench: redis: %w", err)
	}
	env.redis = rd
	fmt.Fprintf(log, "  postgres (fsync on) and redis started in %s\n", time.Since(t0).Round(time.Millisecond))
	return nil
}

// close stops everything env started, newest first.
func (env *benchEnv) close() {
	if env.server != nil {
		env.server.stop(10 * time.Second)
	}
	if env.otlpSink != nil {
		env.otlpSink.Close()
	}
	if env.redis != nil {
		_ = env.redis.Stop()
	}
	if env.pg != nil {
		env.pg.Stop()
	}
}

// buildServer compiles ./cmd/tokenserver into the temporary directory.
func buildServer(ctx context.Context, goTool, dir string) (string, error) {
	bin := filepath.Join(dir, "tokenserver")
	cmd := exec.CommandContext(ctx, goTool, "build", "-o", bin, "./cmd/tokenserver")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("tokenbench: go build ./cmd/tokenserver (run from the repository root): %w\n%s", err, out)
	}
	return bin, nil
}

// minimalEnv is the environment every child gets: enough to run, plus the Go
// runtime settings the user chose, and nothing else (no stray TOKENSERVER_*).
func minimalEnv(getenv func(string) string) []string {
	var env []string
	for _, name := range []string{"PATH", "HOME", "TMPDIR", "GOMAXPROCS", "GOGC", "GOMEMLIMIT", "GODEBUG"} {
		if v := getenv(name); v != "" {
			env = append(env, name+"="+v)
		}
	}
	return env
}

// adminEnv is the environment of the server's admin commands.
func (env *benchEnv) adminEnv() []string {
	return append(minimalEnv(env.getenv), "DATABASE_URL="+env.serverDSN, "TOKENSERVER_KEK="+env.kek)
}

// admin runs `tokenserver <args>` and returns its standard output.
func (env *benchEnv) admin(ctx context.Context, stdin io.Reader, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, env.serverBin, args...)
	cmd.Env = env.adminEnv()
	cmd.Stdin = stdin
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("tokenbench: tokenserver %s: %w\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

// setupServer migrates the database and registers, through the server's own
// CLI, a confidential client for the password and refresh grants, one for
// client_credentials, and o.users users. The users' argon2id hashes
// are computed here at the server's parameters (one hash shared by all: a
// verification costs the same whatever the salt) and loaded with
// `user import`, which is much faster than o.users × `user add`.
func setupServer(ctx context.Context, env *benchEnv, o *options) error {
	kek := make([]byte, 32)
	_, _ = rand.Read(kek)
	env.kek = base64.StdEncoding.EncodeToString(kek)

	if _, err := env.admin(ctx, nil, "migrate"); err != nil {
		return err
	}
	var err error
	env.clientID = "bench"
	if env.clientSecret, err = env.addClient(ctx, env.clientID, "password,refresh_token"); err != nil {
		return err
	}
	// The DPoP phases' public client: its refresh tokens are bound to the
	// proof's key (RFC 9449 §5).
	if _, err := env.admin(ctx, nil, "client", "add", "--public", "--require-dpop",
		"--grants", "password,refresh_token", "--scopes", "read,write", dpopClientID); err != nil {
		return err
	}
	env.serviceID = "bench-service"
	if env.serviceSecret, err = env.addClient(ctx, env.serviceID, "client_credentials"); err != nil {
		return err
	}

	pw := make([]byte, 12)
	_, _ = rand.Read(pw)
	env.password = "bench-" + hex.EncodeToString(pw)
	hasher, err := password.NewHasher(password.Config{Params: o.argon2, AllowWeak: true})
	if err != nil {
		return fmt.Errorf("tokenbench: argon2id parameters: %w", err)
	}
	hash, err := hasher.Hash(ctx, env.password)
	if err != nil {
		return fmt.Errorf("tokenbench: hash: %w", err)
	}
	env.passwordHash = hash
	var lines bytes.Buffer
	enc := json.NewEncoder(&lines)
	for i := range o.users {
		name := "bench-user-" + strconv.Itoa(i)
		env.usernames = append(env.usernames, name)
		if err := enc.Encode(map[string]string{"username": name, "hash": hash}); err != nil {
			return err
		}
	}
	file := filepath.Join(env.dir, "users.jsonl")
	if err := os.WriteFile(file, lines.Bytes(), 0o600); err != nil {
		return fmt.Errorf("tokenbench: %w", err)
	}
	_, err = env.admin(ctx, nil, "user", "import", file)
	return err
}

// addClient registers a confidential client for grants with
// `client add --generate-secret` and returns the secret it printed.
func (env *benchEnv) addClient(ctx context.Context, id, grants string) (string, error) {
	out, err := env.admin(ctx, nil, "client", "add", "--generate-secret",
		"--grants", grants, "--scopes", "read,write", id)
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(out, "\n") {
		if _, secret, ok := strings.Cut(line, "client secret (shown once, store it now):"); ok {
			return strings.TrimSpace(secret), nil
		}
	}
	return "", fmt.Errorf("tokenbench: no client secret in the output of `client add %s`:\n%s", id, out)
}

// startServer runs `tokenserver serve` on PostgreSQL and Redis and waits for
// /readyz.
func startServer(ctx context.Context, env *benchEnv, o *options, queueTimeout time.Duration) error {
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	vars := append(env.adminEnv(),
		"REDIS_URL=redis://"+env.redis.Addr,
		"TOKENSERVER_REDIS_PREFIX=tokenbench:",
		"TOKENSERVER_ADDR="+addr,
		"TOKENSERVER_DRAIN_DELAY=0s", // no load balancer to drain
		"TOKENSERVER_SIGNING_ALG="+o.signingAlg,
		"TOKENSERVER_ARGON2_MEMORY="+strconv.FormatUint(uint64(o.argon2.Memory), 10),
		"TOKENSERVER_ARGON2_TIME="+strconv.FormatUint(uint64(o.argon2.Time), 10),
		"TOKENSERVER_ARGON2_THREADS="+strconv.FormatUint(uint64(o.argon2.Threads), 10),
		"TOKENSERVER_HASH_CONCURRENCY="+strconv.Itoa(o.hashSlots),
		"TOKENSERVER_HASH_QUEUE_TIMEOUT="+queueTimeout.String(),
	)
	if o.serverProcs > 0 {
		vars = append(vars, "GOMAXPROCS="+strconv.Itoa(o.serverProcs))
	}
	if o.otlpSink {
		sink, err := startOTLPSink()
		if err != nil {
			return err
		}
		env.otlpSink = sink
		vars = append(vars, "OTEL_EXPORTER_OTLP_ENDPOINT="+sink.URL)
	}
	// Last: os/exec keeps the last of duplicate names.
	vars = append(vars, o.serverEnv...)
	p, err := startProcess("tokenserver", env.serverBin, []string{"serve"}, vars, filepath.Join(env.dir, "tokenserver.log"))
	if err != nil {
		return err
	}
	env.server = p
	env.baseURL = "http://" + addr
	return p.waitHTTP(ctx, env.baseURL+"/readyz", 30*time.Second)
}
