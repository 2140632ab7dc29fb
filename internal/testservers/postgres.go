package testservers

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// PostgresOptions configures StartPostgresServer.
type PostgresOptions struct {
	// Fsync keeps PostgreSQL's durability settings (fsync, synchronous_commit,
	// full_page_writes) at their defaults. Tests leave it off for speed;
	// benchmarks that measure the cost of a commit turn it on.
	Fsync bool
}

// PostgresServer is a PostgreSQL server this process started (or, with
// ConnectPostgresServer, an existing one) on which it creates throwaway
// databases.
type PostgresServer struct {
	admin    *url.URL // DSN of the maintenance database
	psql     string
	external bool // an existing server: drop what we create, never stop it

	// Set only for a server we started.
	pgCtl   string
	dataDir string
	baseDir string
	cred    *syscall.Credential
	exited  chan struct{} // closed when the postmaster process exits

	stopOnce sync.Once
	seq      atomic.Int64
}

// ConnectPostgresServer wraps an existing server reachable at adminURL (a
// postgres:// URL whose user may create databases). Stop does nothing.
func ConnectPostgresServer(adminURL string) (*PostgresServer, error) {
	u, err := url.Parse(adminURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return nil, fmt.Errorf("testservers: TEST_DATABASE_URL must be a postgres:// URL")
	}
	psql, err := findBinary("psql")
	if err != nil {
		return nil, err
	}
	return &PostgresServer{admin: u, psql: psql, external: true}, nil
}

// StartPostgresServer initialises a throwaway cluster in a temporary
// directory and starts PostgreSQL on a free loopback port. Call Stop to shut
// it down and remove the directory.
func StartPostgresServer(opts PostgresOptions) (*PostgresServer, error) {
	initdb, err := findBinary("initdb")
	if err != nil {
		return nil, err
	}
	binDir := filepath.Dir(initdb)
	bins := map[string]string{}
	for _, name := range []string{"pg_ctl", "postgres", "psql", "pg_isready"} {
		// Prefer the tools of the same installation as initdb: Debian's
		// /usr/bin wrappers pick a version by themselves.
		if p := filepath.Join(binDir, name); isFile(p) {
			bins[name] = p
			continue
		}
		if bins[name], err = findBinary(name); err != nil {
			return nil, err
		}
	}

	base, err := os.MkdirTemp("", "tokenserver-pg-")
	if err != nil {
		return nil, fmt.Errorf("testservers: postgres: %w", err)
	}
	s := &PostgresServer{
		psql:    bins["psql"],
		pgCtl:   bins["pg_ctl"],
		baseDir: base,
		dataDir: filepath.Join(base, "data"),
	}
	// initdb and postgres refuse to run as root: run them as "postgres".
	if os.Geteuid() == 0 {
		if s.cred, err = postgresCredential(); err == nil {
			err = os.Chown(base, int(s.cred.Uid), int(s.cred.Gid))
		}
		if err != nil {
			os.RemoveAll(base)
			return nil, fmt.Errorf("testservers: postgres: running as root: %w", err)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if out, err := s.command(ctx, initdb, "-D", s.dataDir, "--no-sync", "-U", "postgres", "--auth=trust",
		"--encoding=UTF8", "--locale=C.UTF-8").CombinedOutput(); err != nil {
		os.RemoveAll(base)
		return nil, fmt.Errorf("testservers: initdb: %w\n%s", err, out)
	}

	// The free port may be taken again before postgres binds it; then
	// postgres exits at once and another port is tried.
	var startErr error
	for range 3 {
		if startErr = s.start(ctx, bins["postgres"], bins["pg_isready"], opts); !errors.Is(startErr, errExitedEarly) {
			break
		}
	}
	if startErr != nil {
		os.RemoveAll(base)
		return nil, startErr
	}
	return s, nil
}

var errExitedEarly = errors.New("testservers: postgres exited during start-up")

// start runs the postmaster on a free port and waits until it accepts
// connections. On failure the process is gone and the error quotes its log.
func (s *PostgresServer) start(ctx context.Context, postgresBin, pgIsReady string, opts PostgresOptions) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	args := []string{"-D", s.dataDir, "-p", strconv.Itoa(port),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories=" + s.baseDir,
		"-c", "max_connections=200",
	}
	if !opts.Fsync {
		args = append(args, "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	}
	logPath := filepath.Join(s.baseDir, "postgres.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return fmt.Errorf("testservers: postgres: %w", err)
	}
	postgres := s.command(context.Background(), postgresBin, args...)
	postgres.Stdout, postgres.Stderr = logFile, logFile
	if err := postgres.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("testservers: start postgres: %w", err)
	}
	exited := make(chan struct{})
	go func() {
		postgres.Wait()
		logFile.Close()
		close(exited)
	}()
	s.exited = exited
	s.admin = &url.URL{Scheme: "postgres", User: url.User("postgres"), Host: "127.0.0.1:" + strconv.Itoa(port),
		Path: "/postgres", RawQuery: "sslmode=disable"}

	if err := s.waitReady(ctx, pgIsReady, port); err != nil {
		if !errors.Is(err, errExitedEarly) {
			s.command(context.Background(), s.pgCtl, "stop", "-D", s.dataDir, "-m", "immediate", "-w").Run()
			postgres.Process.Kill()
			<-exited
		}
		return fmt.Errorf("%w\n%s", err, readTail(logPath))
	}
	return nil
}

// waitReady polls pg_isready until the server accepts connections, the
// postmaster exits, or ctx ends.
func (s *PostgresServer) waitReady(ctx context.Context, pgIsReady string, port int) error {
	for {
		check := exec.CommandContext(ctx, pgIsReady, "-q", "-h", "127.0.0.1", "-p", strconv.Itoa(port),
			"-U", "postgres", "-d", "postgres", "-t", "1")
		if check.Run() == nil {
			return nil
		}
		select {
		case <-s.exited:
			return errExitedEarly
		case <-ctx.Done():
			return fmt.Errorf("testservers: postgres did not start: %w", ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// NextDatabaseName returns a database name unique to this process and call.
func (s *PostgresServer) NextDatabaseName() string {
	var b [3]byte
	rand.Read(b[:])
	return fmt.Sprintf("t_%d_%d_%s", os.Getpid(), s.seq.Add(1), hex.EncodeToString(b[:]))
}

var databaseName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// CreateDatabase creates an empty database and returns its DSN.
func (s *PostgresServer) CreateDatabase(name string) (string, error) {
	if !databaseName.MatchString(name) {
		return "", fmt.Errorf("testservers: invalid database name %q", name)
	}
	if err := s.runSQL(`CREATE DATABASE "` + name + `"`); err != nil {
		return "", fmt.Errorf("testservers: create database %s: %w", name, err)
	}
	u := *s.admin
	u.Path = "/" + name
	return u.String(), nil
}

// DropDatabase drops a database, disconnecting its sessions.
func (s *PostgresServer) DropDatabase(name string) error {
	if !databaseName.MatchString(name) {
		return fmt.Errorf("testservers: invalid database name %q", name)
	}
	if err := s.runSQL(`DROP DATABASE IF EXISTS "` + name + `" WITH (FORCE)`); err != nil {
		return fmt.Errorf("testservers: drop database %s: %w", name, err)
	}
	return nil
}

// External reports whether the server was not started by this process
// (ConnectPostgresServer): what is created on it must be dropped, and it
// cannot be stopped, frozen or killed.
func (s *PostgresServer) External() bool { return s.external }

// AdminURL returns the DSN of the server's maintenance database.
func (s *PostgresServer) AdminURL() string { return s.admin.String() }

func (s *PostgresServer) runSQL(sql string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", s.admin.String(), "-c", sql)
	cmd.Env = append(os.Environ(), "PGCONNECT_TIMEOUT=10")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%w: %s", err, bytes.TrimSpace(out))
	}
	return nil
}

// Stop shuts a server started by StartPostgresServer down immediately and
// removes its directory. It does nothing for ConnectPostgresServer.
func (s *PostgresServer) Stop() {
	if s.external {
		return
	}
	s.stopOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		s.command(ctx, s.pgCtl, "stop", "-D", s.dataDir, "-m", "immediate", "-w").Run()
		select {
		case <-s.exited:
		case <-ctx.Done():
		}
		os.RemoveAll(s.baseDir)
	})
}

// command runs name as the postgres OS user when this process is root.
func (s *PostgresServer) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = s.baseDir
	if s.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
		cmd.Env = append(os.Environ(), "HOME="+s.baseDir)
	}
	return cmd
}

func postgresCredential() (*syscall.Credential, error) {
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("need an OS user named postgres: %w", err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, err
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, err
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}, nil
}

func isFile(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir()
}

// readTail returns the end of a log file for an error message.
func readTail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return strings.TrimSpace(string(b))
}
