package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/tokenserver/tokenserver/sessions"
)

// adminFlags are the settings every admin command shares.
type adminFlags struct {
	store     storeFlags
	accessTTL time.Duration
}

func (a *adminFlags) register(fs *flag.FlagSet) {
	a.store.register(fs)
	fs.DurationVar(&a.accessTTL, "access-token-ttl", 15*time.Minute,
		"the least time a revocation is remembered; the lifetimes recorded by running servers and clients' own lifetimes lengthen it")
}

// openAdmin opens the production backends for an admin command. Admin
// commands act on DATABASE_URL; the in-memory store lives only inside a
// running `serve`, so there is nothing to administer without a database.
func openAdmin(ctx context.Context, e env, a *adminFlags) (*backends, error) {
	if a.store.databaseURL == "" {
		return nil, errors.New("DATABASE_URL is not set: admin commands act on the PostgreSQL store (the embedded store lives only inside `serve`)")
	}
	logger := newLogger(e.stderr, "warn", "text")
	return openBackends(ctx, &a.store, time.Now, logger)
}

func runMigrate(ctx context.Context, e env, args []string) error {
	var a adminFlags
	fs := newFlagSet("migrate", "migrate [flags]", e.stderr)
	a.register(fs)
	if err := parseFlags(fs, args, e.getenv); err != nil {
		return err
	}
	if a.store.databaseURL == "" {
		return errors.New("DATABASE_URL is not set")
	}
	a.store.redisURL = "" // migrations touch PostgreSQL only
	b, err := openAdmin(ctx, e, &a)
	if err != nil {
		return err
	}
	defer b.Close()
	if err := b.pg.Migrate(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	fmt.Fprintln(e.stdout, "migrations applied")
	return nil
}

// listCommand parses an admin command that takes no arguments (`user list`,
// `client list`) and opens the backends.
func listCommand(ctx context.Context, e env, name string, args []string) (*backends, error) {
	a := &adminFlags{}
	fs := newFlagSet(name, name+" [flags]", e.stderr)
	a.register(fs)
	if err := parseFlags(fs, args, e.getenv); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return nil, errUsage
	}
	return openAdmin(ctx, e, a)
}

// subcommand dispatches `tokenserver <group> <sub> ...`.
func subcommand(ctx context.Context, e env, group string, args []string, subs map[string]func(context.Context, env, []string) error, usage string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintf(e.stderr, "Usage: tokenserver %s %s\n", group, usage)
		if len(args) == 0 {
			return errUsage
		}
		return nil
	}
	f, ok := subs[args[0]]
	if !ok {
		fmt.Fprintf(e.stderr, "tokenserver %s: unknown subcommand %q\nUsage: tokenserver %s %s\n", group, args[0], group, usage)
		return errUsage
	}
	return f(ctx, e, args[1:])
}

// readSecretLine reads one line from stdin: passwords and client secrets come
// from stdin, never from argv (argv is visible to every user of the machine).
func readSecretLine(r io.Reader, what string) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(r, 4096)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("reading %s from stdin: %w", what, err)
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", fmt.Errorf("empty %s: pipe it on stdin, e.g. printf '%%s' \"$SECRET\" | tokenserver ...", what)
	}
	return line, nil
}

// adminSessions returns the session service an admin command revokes
// through: the same rules as the server's. Revocations last at least
// --access-token-ttl and as long as any lifetime the database knows of
// (each server records its own; clients' own lifetimes).
func adminSessions(b *backends, a *adminFlags) (*sessions.Service, error) {
	return b.sessions(a.accessTTL, time.Now, slog.New(slog.DiscardHandler))
}

// longestAccessTTL is the longest lifetime any access token can have: the
// server default or a client's own, whichever is longer.
func longestAccessTTL(ctx context.Context, b *backends, def time.Duration) (time.Duration, error) {
	clients, err := b.clients.ListClients(ctx)
	if err != nil {
		return 0, fmt.Errorf("list clients: %w", err)
	}
	longest := def
	for _, c := range clients {
		longest = max(longest, c.AccessTokenTTL)
	}
	return longest, nil
}
