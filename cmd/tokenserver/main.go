// Command tokenserver is a small OAuth 2.0 token server: password and
// refresh_token grants, JWT access tokens (RFC 9068), JWKS, revocation and
// introspection. Run `tokenserver help` for the subcommands.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, force, stop := shutdownSignals()
	e := env{getenv: os.Getenv, stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, force: force}
	err := runEnv(ctx, e, os.Args[1:])
	stop()
	if err != nil {
		reportError(os.Stderr, err)
		os.Exit(exitCode(err))
	}
}

// shutdownSignals returns a context cancelled by the first SIGTERM or
// interrupt (serve starts draining, other commands stop) and a channel
// closed by the second signal (serve ends its drain delay at once). An
// interrupt (Ctrl-C at a terminal) closes both at once: the drain delay is
// for load balancers, which send SIGTERM, not for someone waiting at a
// prompt. After that, the signals' default action applies again: one more
// kills.
func shutdownSignals() (ctx context.Context, force <-chan struct{}, stop func()) {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	ctx, cancel := context.WithCancel(context.Background())
	forced := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer signal.Stop(sigs)
		var first os.Signal
		select {
		case first = <-sigs:
		case <-done:
			return
		}
		cancel()
		if first == os.Interrupt {
			close(forced)
			return
		}
		select {
		case <-sigs:
			close(forced)
		case <-done:
		}
	}()
	return ctx, forced, func() { close(done); cancel() }
}

// errUsage marks a command-line mistake (exit status 2). Bare, it means the
// usage was already printed; a *usageError carries its own message.
var errUsage = errors.New("usage")

// reportError prints err as main does: one line naming what was wrong,
// prefixed once with the program name, and for a usage error a short hint.
func reportError(w io.Writer, err error) {
	var ue *usageError
	switch {
	case errors.As(err, &ue):
		prefix := "tokenserver"
		if ue.cmd != "" {
			prefix += " " + ue.cmd
		}
		fmt.Fprintf(w, "%s: %s\n%s\n", prefix, ue.msg, ue.hint())
	case errors.Is(err, errUsage):
		// already printed with the usage
	default:
		// Library errors carry their package prefix; "tokenserver: tokenserver: config: ..." says nothing twice.
		fmt.Fprintln(w, "tokenserver:", strings.TrimPrefix(err.Error(), "tokenserver: "))
	}
}

func exitCode(err error) int {
	if errors.Is(err, errUsage) {
		return 2
	}
	return 1
}

// env is the process environment, injected so tests can set it per run.
type env struct {
	getenv func(string) string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	// force, when closed, cuts serve's drain delay short (a second
	// signal); nil: the delay always runs out.
	force <-chan struct{}
	// serveHandler, when set, is given serve's fully wired public handler
	// instead of a listener (benchmarks drive it in-process, without the
	// HTTP client's cost); serve returns its error after the usual
	// cleanup. Background work (key rotation, relay, purge) is not
	// started. nil: serve listens on --addr.
	serveHandler func(ctx context.Context, h http.Handler) error
}

// command is one subcommand: name, one-line help, and its entry point.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, e env, args []string) error
}

func commands() []command {
	return []command{
		{"serve", "run the token server", runServe},
		{"migrate", "apply database migrations (DATABASE_URL)", runMigrate},
		{"user", "manage users: add, set-password, disable, enable, delete, list, import, revoke-sessions", runUser},
		{"client", "manage clients: add, list, delete", runClient},
		{"keys", "manage signing keys: list, rotate [--now]", runKeys},
		{"version", "print the version (also --version)", runVersion},
	}
}

// run is the whole program behind main: it parses args, dispatches to a
// subcommand and returns its error. Nothing here reads globals.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	return runEnv(ctx, env{getenv: getenv, stdin: stdin, stdout: stdout, stderr: stderr}, args)
}

// runEnv is run with the environment assembled.
func runEnv(ctx context.Context, e env, args []string) error {
	stderr := e.stderr
	if len(args) == 0 {
		return usageErrorf("", "missing command")
	}
	if args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		printUsage(stderr)
		return nil
	}
	if args[0] == "--version" || args[0] == "-version" {
		return runVersion(ctx, e, args[1:])
	}
	for _, c := range commands() {
		if c.name == args[0] {
			err := c.run(ctx, e, args[1:])
			if errors.Is(err, errHelp) {
				return nil
			}
			return err
		}
	}
	return usageErrorf("", "unknown command %q", args[0])
}

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "Usage: tokenserver <command> [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Commands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run `tokenserver <command> -h` for its flags. Every flag has an environment twin")
	fmt.Fprintln(w, "TOKENSERVER_<FLAG> (e.g. --addr / TOKENSERVER_ADDR); DATABASE_URL and REDIS_URL keep their names.")
}

func runVersion(_ context.Context, e env, args []string) error {
	if len(args) > 0 {
		return usageErrorf("version", "unexpected argument %q", args[0])
	}
	fmt.Fprintf(e.stdout, "tokenserver %s\n", version)
	return nil
}
