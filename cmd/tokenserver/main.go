// Command tokenserver is a small OAuth 2.0 token server: password and
// refresh_token grants, JWT access tokens (RFC 9068), JWKS, revocation and
// introspection. Run `tokenserver help` for the subcommands.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, errUsage) {
			fmt.Fprintln(os.Stderr, "tokenserver:", err)
		}
		os.Exit(exitCode(err))
	}
}

// errUsage marks an error whose message was already printed with usage.
var errUsage = errors.New("usage")

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
		{"version", "print the version", runVersion},
	}
}

// run is the whole program behind main: it parses args, dispatches to a
// subcommand and returns its error. Nothing here reads globals.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	e := env{getenv: getenv, stdin: stdin, stdout: stdout, stderr: stderr}
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		printUsage(stderr)
		if len(args) == 0 {
			return errUsage
		}
		return nil
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
	fmt.Fprintf(stderr, "tokenserver: unknown command %q\n\n", args[0])
	printUsage(stderr)
	return errUsage
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

func runVersion(_ context.Context, e env, _ []string) error {
	fmt.Fprintf(e.stdout, "tokenserver %s\n", version)
	return nil
}
