package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tokenserver/tokenserver/admin"
	"github.com/tokenserver/tokenserver/keys"
	"github.com/tokenserver/tokenserver/store"
)

func runUser(ctx context.Context, e env, args []string) error {
	return subcommand(ctx, e, "user", args, []subcmd{
		{"add", "USERNAME", "add a user; the password is read from stdin", userAdd},
		{"update", "USERNAME", "change a user's email, roles or attributes (ends no session)", userUpdate},
		{"set-password", "USERNAME", "change a user's password (read from stdin) and end their sessions", userSetPassword},
		{"disable", "USERNAME", "refuse a user's logins and end their sessions", func(ctx context.Context, e env, a []string) error { return userSetDisabled(ctx, e, a, true) }},
		{"enable", "USERNAME", "let a disabled user log in again", func(ctx context.Context, e env, a []string) error { return userSetDisabled(ctx, e, a, false) }},
		{"delete", "USERNAME", "delete a user and end their sessions", userDelete},
		{"list", "", "list users (--json for JSON); never shows hashes", userList},
		{"import", "FILE", "add users with their existing password hashes, one JSON object per line", userImport},
		{"revoke-sessions", "USERNAME", "end every session of a user and reject their access tokens", userRevokeSessions},
	})
}

// userCommand parses an admin command that takes exactly one argument and
// opens the backends. Adding users touches the database only; the other
// commands revoke sessions, so they also reach Redis.
// Extra registers a command's own flags.
func userCommand(ctx context.Context, e env, name, argName string, args []string, extra ...func(*flag.FlagSet)) (*backends, *adminFlags, string, error) {
	a := &adminFlags{}
	fs := newFlagSet("user "+name, "user "+name+" "+argName+" [flags]", e.stderr)
	if name == "add" || name == "import" || name == "update" {
		a.registerDB(fs)
	} else {
		a.register(fs)
	}
	for _, f := range extra {
		f(fs)
	}
	if err := parseFlags(fs, args, e.getenv); err != nil {
		return nil, nil, "", err
	}
	if err := exactArgs(fs, argName); err != nil {
		return nil, nil, "", err
	}
	b, err := openAdmin(ctx, e, a)
	if err != nil {
		return nil, nil, "", err
	}
	return b, a, strings.TrimSpace(fs.Arg(0)), nil
}

// normalizeUsername is admin.NormalizeUsername with the CLI's one-line
// error naming the refused name (quoted, so that control characters show).
func normalizeUsername(name string) (string, error) {
	n, err := admin.NormalizeUsername(name)
	return n, cliError(err)
}

// storedAs says under which name a user was stored when normalization
// changed it.
func storedAs(given, stored string) string {
	if given == stored {
		return ""
	}
	return fmt.Sprintf(" (normalized from %q)", given)
}

func userAdd(ctx context.Context, e env, args []string) error {
	var (
		pf   policyFlags
		prof profileFlags
		fs   *flag.FlagSet
	)
	b, a, given, err := userCommand(ctx, e, "add", "USERNAME", args, func(f *flag.FlagSet) {
		fs = f
		pf.register(f)
		prof.register(f, false)
	})
	if err != nil {
		return err
	}
	defer b.Close()
	// Refuse a bad name before reading a password for it.
	name, err := normalizeUsername(given)
	if err != nil {
		return err
	}
	profile, err := prof.apply(fs, store.UserProfile{})
	if err != nil {
		return err
	}
	policy, closePolicy, err := pf.policy()
	if err != nil {
		return err
	}
	defer closePolicy()
	pw, err := readSecretLine(e.stdin, "password")
	if err != nil {
		return err
	}
	svc, err := adminService(b, a, keys.Config{}, withPasswordPolicy(policy))
	if err != nil {
		return err
	}
	u, err := svc.CreateUser(ctx, admin.NewUser{Username: given, Password: pw, Profile: profile})
	if errors.Is(err, admin.ErrExists) {
		if profile.Email != "" {
			return fmt.Errorf("user %q or email %q already exists", name, profile.Email)
		}
		return fmt.Errorf("user %q already exists", name)
	}
	if err != nil {
		return cliError(err)
	}
	fmt.Fprintf(e.stdout, "user %s added (id %s)%s\n", u.Username, u.ID, storedAs(given, u.Username))
	return nil
}

// existingUserCommand parses an admin command whose one argument names an
// existing user, opens the backends and the admin service, and looks the
// user up. extra registers further flags; opts configure the service.
func existingUserCommand(ctx context.Context, e env, name string, args []string, extra ...func(*flag.FlagSet)) (*backends, *admin.Service, store.User, error) {
	b, a, username, err := userCommand(ctx, e, name, "USERNAME", args, extra...)
	if err != nil {
		return nil, nil, store.User{}, err
	}
	svc, err := adminService(b, a, keys.Config{})
	if err != nil {
		b.Close()
		return nil, nil, store.User{}, err
	}
	u, err := lookupUser(ctx, svc, username)
	if err != nil {
		b.Close()
		return nil, nil, store.User{}, err
	}
	return b, svc, u, nil
}

// lookupUser returns the user or an error that names the missing username
// (admin.Service.UserByName: normalized as at login, then as given for
// accounts stored before usernames were normalized).
func lookupUser(ctx context.Context, svc *admin.Service, given string) (store.User, error) {
	u, err := svc.UserByName(ctx, given)
	if errors.Is(err, admin.ErrNotFound) {
		return store.User{}, fmt.Errorf("no user %q", given)
	}
	return u, cliError(err)
}

func userSetPassword(ctx context.Context, e env, args []string) error {
	var pf policyFlags
	b, svc, u, err := existingUserCommand(ctx, e, "set-password", args, pf.register)
	if err != nil {
		return err
	}
	defer b.Close()
	policy, closePolicy, err := pf.policy()
	if err != nil {
		return err
	}
	defer closePolicy()
	pw, err := readSecretLine(e.stdin, "password")
	if err == nil {
		err = policy.Check(pw)
		if err != nil {
			err = fmt.Errorf("password refused: %w", err)
		}
	}
	if err != nil {
		return err
	}
	// A new password ends every session of the old one.
	n, err := svc.SetPassword(ctx, u.ID, pw)
	if err != nil {
		return cliError(err)
	}
	fmt.Fprintf(e.stdout, "password of %s changed; %d session(s) revoked\n", u.Username, n)
	return nil
}

func userSetDisabled(ctx context.Context, e env, args []string, disabled bool) error {
	name := map[bool]string{true: "disable", false: "enable"}[disabled]
	b, svc, u, err := existingUserCommand(ctx, e, name, args)
	if err != nil {
		return err
	}
	defer b.Close()
	n, err := svc.SetDisabled(ctx, u.ID, disabled)
	if err != nil {
		return fmt.Errorf("%s user: %w", name, err)
	}
	if !disabled {
		fmt.Fprintf(e.stdout, "user %s enabled\n", u.Username)
		return nil
	}
	fmt.Fprintf(e.stdout, "user %s disabled; %d session(s) revoked\n", u.Username, n)
	return nil
}

func userDelete(ctx context.Context, e env, args []string) error {
	b, svc, u, err := existingUserCommand(ctx, e, "delete", args)
	if err != nil {
		return err
	}
	defer b.Close()
	if err := svc.DeleteUser(ctx, u.ID); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "user %s deleted\n", u.Username)
	return nil
}

func userRevokeSessions(ctx context.Context, e env, args []string) error {
	b, svc, u, err := existingUserCommand(ctx, e, "revoke-sessions", args)
	if err != nil {
		return err
	}
	defer b.Close()
	n, err := svc.EndSessions(ctx, u.ID)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%d session(s) of %s revoked; access tokens issued until now are rejected\n", n, u.Username)
	return nil
}

func userList(ctx context.Context, e env, args []string) error {
	b, asJSON, err := listCommand(ctx, e, "user list", args)
	if err != nil {
		return err
	}
	defer b.Close()
	users, err := b.users.ListUsers(ctx)
	if err != nil {
		return fmt.Errorf("list users: %w", err)
	}
	if asJSON {
		return writeJSON(e.stdout, userListJSON(users))
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "USERNAME\tID\tSTATUS\tHASH\tCREATED\tPASSWORD CHANGED\tEMAIL\tROLES")
	for _, u := range users {
		status := "enabled"
		if u.Disabled {
			status = "disabled"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", u.Username, u.ID, status, hashScheme(u.PasswordHash),
			u.CreatedAt.UTC().Format(time.RFC3339), u.PasswordChangedAt.UTC().Format(time.RFC3339),
			u.Email, strings.Join(u.Roles, ","))
	}
	return tw.Flush()
}

// hashScheme names a hash's scheme without revealing any of it.
func hashScheme(h string) string {
	if parts := strings.SplitN(h, "$", 3); len(parts) >= 2 && parts[0] == "" {
		return parts[1]
	}
	return "unknown"
}

// importLine is one line of `user import`: a username and an existing hash,
// in one of the forms of password.Import, or a Keycloak credential.
type importLine struct {
	Username string `json:"username"`
	Hash     string `json:"hash"`
	// Salt, when set, means Hash is bcrypt over password+salt.
	Salt string `json:"salt"`
	// Keycloak, instead of Hash, is one password credential of a Keycloak
	// realm export (users[].credentials[]).
	Keycloak json.RawMessage `json:"keycloak"`
	Disabled bool            `json:"disabled"`
}

// userImport loads users with their existing hashes, so a team can move
// without a password reset; hashes are upgraded to argon2id at next login.
// FILE "-" is stdin. Every bad line is reported with its number and nothing
// of it is written; the command exits non-zero if any line was bad. With
// --upsert, a user who exists gets the line's hash and disabled flag
// through the session service, which ends the user's sessions.
func userImport(ctx context.Context, e env, args []string) error {
	a := &adminFlags{}
	fs := newFlagSet("user import", "user import [flags] FILE|-", e.stderr)
	a.register(fs)
	upsert := fs.Bool("upsert", false,
		"update the hash and disabled flag of users that already exist (ending their sessions) instead of refusing them")
	if err := parseFlags(fs, args, e.getenv); err != nil {
		return err
	}
	if fs.NArg() != 1 || strings.TrimSpace(fs.Arg(0)) == "" {
		fs.Usage()
		return errUsage
	}
	file := strings.TrimSpace(fs.Arg(0))
	in, name, err := openImportInput(e, file)
	if err != nil {
		return err
	}
	defer in.Close()
	b, err := openAdmin(ctx, e, a)
	if err != nil {
		return err
	}
	defer b.Close()
	imp := &importer{b: b}
	if *upsert {
		if imp.sessions, err = adminSessions(b, a); err != nil {
			return err
		}
	}
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	bad := 0
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		if err := importOne(ctx, imp, line); err != nil {
			bad++
			fmt.Fprintf(e.stderr, "%s:%d: %v\n", name, n, err)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("import: reading %s: %w", name, err)
	}
	if *upsert {
		fmt.Fprintf(e.stdout, "%d user(s) imported, %d updated, %d unchanged, %d session(s) revoked, %d line(s) rejected\n",
			imp.created, imp.updated, imp.unchanged, imp.revoked, bad)
	} else {
		fmt.Fprintf(e.stdout, "%d user(s) imported, %d line(s) rejected\n", imp.created, bad)
	}
	if bad > 0 {
		return fmt.Errorf("import: %d bad line(s) in %s", bad, name)
	}
	return nil
}

func importOne(ctx context.Context, imp *importer, line string) error {
	var in importLine
	dec := json.NewDecoder(strings.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return fmt.Errorf("not a JSON object with username, hash[, salt, disabled] or username, keycloak[, disabled]: %w", err)
	}
	in.Username = strings.TrimSpace(in.Username)
	if in.Username == "" {
		return errors.New("empty username")
	}
	name, err := normalizeUsername(in.Username)
	if err != nil {
		return err
	}
	hash, err := importedHash(in)
	if err != nil {
		return fmt.Errorf("user %q: %w", in.Username, err)
	}
	now := time.Now()
	err = imp.b.users.CreateUser(ctx, store.User{ID: newUUID(), Username: name, PasswordHash: hash,
		Disabled: in.Disabled, CreatedAt: now, UpdatedAt: now, PasswordChangedAt: now})
	switch {
	case errors.Is(err, store.ErrConflict) && imp.sessions != nil:
		return imp.update(ctx, name, hash, in.Disabled)
	case errors.Is(err, store.ErrConflict):
		return fmt.Errorf("user %q already exists (--upsert updates existing users)", in.Username)
	case err != nil:
		return err
	}
	imp.created++
	return nil
}
