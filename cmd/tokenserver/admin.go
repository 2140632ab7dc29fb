package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tokenserver/tokenserver/sessions"
	"github.com/tokenserver/tokenserver/tokenserver"
)

// adminFlags are the settings admin commands share. They reach the servers'
// database (and Redis, to tell the servers about revocations); nothing of a
// server's own configuration is read, so an admin command run inside a
// server's environment acts the same as anywhere else.
type adminFlags struct {
	store     storeFlags
	accessTTL time.Duration
	// dbOnly is set for commands that touch PostgreSQL only.
	dbOnly bool
	audit  auditFlags
}

// registerDB registers the settings of a command that reads or writes the
// database only (migrate, list, add, delete a client, add users).
func (a *adminFlags) registerDB(fs *flag.FlagSet) {
	a.dbOnly = true
	a.store.registerDatabase(fs, false)
	a.audit.registerLog(fs)
}

// register registers the settings of a command that revokes (or signs):
// the database, Redis, and the least lifetime of a revocation.
func (a *adminFlags) register(fs *flag.FlagSet) {
	a.store.registerDatabase(fs, false)
	a.store.registerRedis(fs)
	a.audit.registerLog(fs)
	fs.DurationVar(&a.accessTTL, "access-token-ttl", tokenserver.DefaultAccessTokenTTL,
		"the least time a revocation is remembered; the lifetimes recorded by running servers and clients' own lifetimes lengthen it")
}

// openAdmin opens the production backends for an admin command. Admin
// commands act on DATABASE_URL; the in-memory store lives only inside a
// running `serve`, so there is nothing to administer without a database.
func openAdmin(ctx context.Context, e env, a *adminFlags) (*backends, error) {
	if a.store.databaseURL == "" {
		return nil, fmt.Errorf("--database-url [%s] is required: admin commands act on the servers' PostgreSQL database", envName("database-url"))
	}
	level := "warn"
	if a.dbOnly {
		level = "error" // no Redis to warn about: this command needs none
	}
	b, err := openBackends(ctx, &a.store, time.Now, newLogger(e.stderr, level, "text"))
	if err != nil {
		return nil, err
	}
	if err := openAdminAudit(ctx, e, a, b); err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

func runMigrate(ctx context.Context, e env, args []string) error {
	var a adminFlags
	fs := newFlagSet("migrate", "migrate [flags]", e.stderr)
	a.registerDB(fs)
	if err := parseFlags(fs, args, e.getenv); err != nil {
		return err
	}
	if err := exactArgs(fs); err != nil {
		return err
	}
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
// `client list`) and opens the backends. It reports whether --json was given.
func listCommand(ctx context.Context, e env, name string, args []string) (*backends, bool, error) {
	a := &adminFlags{}
	fs := newFlagSet(name, name+" [flags]", e.stderr)
	a.registerDB(fs)
	asJSON := jsonFlag(fs)
	if err := parseFlags(fs, args, e.getenv); err != nil {
		return nil, false, err
	}
	if err := exactArgs(fs); err != nil {
		return nil, false, err
	}
	b, err := openAdmin(ctx, e, a)
	return b, *asJSON, err
}

// jsonFlag registers --json (flag only: an output format is chosen per
// invocation, never inherited from the environment).
func jsonFlag(fs *flag.FlagSet) *bool {
	v := fs.Bool("json", false, "print a JSON array of objects instead of a table (no secrets, hashes or private keys)")
	setFlagOnly(fs, "json")
	return v
}

// writeJSON prints v as indented JSON.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// subcmd is one subcommand of a group (`user add`).
type subcmd struct {
	name    string
	args    string // positional arguments, for the group's help
	summary string
	run     func(context.Context, env, []string) error
}

// subcommand dispatches `tokenserver <group> <sub> ...`.
func subcommand(ctx context.Context, e env, group string, args []string, subs []subcmd) error {
	names := make([]string, len(subs))
	for i, s := range subs {
		names[i] = s.name
	}
	list := strings.Join(names, ", ")
	if len(args) == 0 {
		return usageErrorf(group, "missing subcommand (%s)", list)
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		printGroupUsage(e.stderr, group, subs)
		return nil
	}
	for _, s := range subs {
		if s.name == args[0] {
			return s.run(ctx, e, args[1:])
		}
	}
	if strings.HasPrefix(args[0], "-") {
		return usageErrorf(group, "flags go after the subcommand: tokenserver %s <%s> [flags]", group, strings.Join(names, "|"))
	}
	return usageErrorf(group, "unknown subcommand %q (%s)", args[0], list)
}

func printGroupUsage(w io.Writer, group string, subs []subcmd) {
	fmt.Fprintf(w, "Usage: tokenserver %s <subcommand> [arguments] [flags]\n\nSubcommands:\n", group)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, s := range subs {
		fmt.Fprintf(tw, "  %s %s\t%s\n", s.name, s.args, s.summary)
	}
	tw.Flush()
	fmt.Fprintf(w, "\nRun 'tokenserver %s <subcommand> -h' for its flags.\n", group)
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
