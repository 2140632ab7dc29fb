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

	"github.com/tokenserver/tokenserver/store"
	"github.com/tokenserver/tokenserver/tokenserver/password"
	"github.com/tokenserver/tokenserver/tokenserver/username"
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

// hashPasswordFromStdin reads a password from stdin, checks it against the
// password policy and hashes it with argon2id at OWASP's parameters.
func hashPasswordFromStdin(ctx context.Context, e env, pf *policyFlags) (string, error) {
	policy, closePolicy, err := pf.policy()
	if err != nil {
		return "", err
	}
	defer closePolicy()
	pw, err := readSecretLine(e.stdin, "password")
	if err != nil {
		return "", err
	}
	if err := policy.Check(pw); err != nil {
		return "", fmt.Errorf("password refused: %w", err)
	}
	h, err := password.NewHasher(password.Config{MaxConcurrent: 1})
	if err != nil {
		return "", err
	}
	hash, err := h.Hash(ctx, pw)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return hash, nil
}

// normalizeUsername is username.Normalize with the CLI's one-line error
// naming the refused name (quoted, so that control characters show).
func normalizeUsername(name string) (string, error) {
	n, err := username.Normalize(name)
	if err != nil {
		return "", fmt.Errorf("invalid username %q: %w", name, err)
	}
	return n, nil
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
	b, _, given, err := userCommand(ctx, e, "add", "USERNAME", args, func(f *flag.FlagSet) {
		fs = f
		pf.register(f)
		prof.register(f, false)
	})
	if err != nil {
		return err
	}
	defer b.Close()
	// Stored in normalized form, so that look-alike spellings collide here
	// (ErrConflict) instead of becoming two accounts.
	username, err := normalizeUsername(given)
	if err != nil {
		return err
	}
	profile, err := prof.apply(fs, store.UserProfile{})
	if err != nil {
		return err
	}
	hash, err := hashPasswordFromStdin(ctx, e, &pf)
	if err != nil {
		return err
	}
	now := time.Now()
	id := newUUID()
	err = b.users.CreateUser(ctx, store.User{ID: id, Username: username, PasswordHash: hash,
		CreatedAt: now, UpdatedAt: now, PasswordChangedAt: now,
		Email: profile.Email, Roles: profile.Roles, Attributes: profile.Attributes})
	if errors.Is(err, store.ErrConflict) {
		if profile.Email != "" {
			return fmt.Errorf("user %q or email %q already exists", username, profile.Email)
		}
		return fmt.Errorf("user %q already exists", username)
	}
	if err != nil {
		return fmt.Errorf("add user: %w", err)
	}
	fmt.Fprintf(e.stdout, "user %s added (id %s)%s\n", username, id, storedAs(given, username))
	return nil
}

// existingUserCommand parses an admin command whose one argument names an
// existing user, opens the backends and looks the user up.
func existingUserCommand(ctx context.Context, e env, name string, args []string, extra ...func(*flag.FlagSet)) (*backends, *adminFlags, store.User, error) {
	b, a, username, err := userCommand(ctx, e, name, "USERNAME", args, extra...)
	if err != nil {
		return nil, nil, store.User{}, err
	}
	u, err := lookupUser(ctx, b, username)
	if err != nil {
		b.Close()
		return nil, nil, store.User{}, err
	}
	return b, a, u, nil
}

// lookupUser returns the user or an error that names the missing username.
// The name is normalized as at login. A user created before usernames were
// normalized may be stored in a form the normalized name does not find
// (decomposed accents, full-width letters, a name the profile refuses);
// only then is the name as given tried too, so that an operator can still
// disable, delete or reset such an account.
func lookupUser(ctx context.Context, b *backends, given string) (store.User, error) {
	name, normErr := normalizeUsername(given)
	if normErr == nil {
		u, err := b.users.UserByName(ctx, name)
		if err == nil || !errors.Is(err, store.ErrNotFound) {
			return u, wrapFind(err)
		}
		if name == given {
			return store.User{}, fmt.Errorf("no user %q", given)
		}
	}
	u, err := b.users.UserByName(ctx, given)
	switch {
	case errors.Is(err, store.ErrNotFound) && normErr != nil:
		return store.User{}, normErr
	case errors.Is(err, store.ErrNotFound):
		return store.User{}, fmt.Errorf("no user %q", given)
	}
	return u, wrapFind(err)
}

func wrapFind(err error) error {
	if err != nil {
		return fmt.Errorf("find user: %w", err)
	}
	return nil
}

func userSetPassword(ctx context.Context, e env, args []string) error {
	var pf policyFlags
	b, a, u, err := existingUserCommand(ctx, e, "set-password", args, pf.register)
	if err != nil {
		return err
	}
	defer b.Close()
	username := u.Username
	hash, err := hashPasswordFromStdin(ctx, e, &pf)
	if err != nil {
		return err
	}
	sess, err := adminSessions(b, a)
	if err != nil {
		return err
	}
	// A new password ends every session of the old one.
	n, err := sess.SetPassword(ctx, u.ID, hash)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "password of %s changed; %d session(s) revoked\n", username, n)
	return nil
}

func userSetDisabled(ctx context.Context, e env, args []string, disabled bool) error {
	name := map[bool]string{true: "disable", false: "enable"}[disabled]
	b, a, u, err := existingUserCommand(ctx, e, name, args)
	if err != nil {
		return err
	}
	defer b.Close()
	username := u.Username
	sess, err := adminSessions(b, a)
	if err != nil {
		return err
	}
	n, err := sess.SetDisabled(ctx, u.ID, disabled)
	if err != nil {
		return fmt.Errorf("%s user: %w", name, err)
	}
	if !disabled {
		fmt.Fprintf(e.stdout, "user %s enabled\n", username)
		return nil
	}
	fmt.Fprintf(e.stdout, "user %s disabled; %d session(s) revoked\n", username, n)
	return nil
}

func userDelete(ctx context.Context, e env, args []string) error {
	b, a, u, err := existingUserCommand(ctx, e, "delete", args)
	if err != nil {
		return err
	}
	defer b.Close()
	username := u.Username
	sess, err := adminSessions(b, a)
	if err != nil {
		return err
	}
	if err := sess.DeleteUser(ctx, u.ID); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "user %s deleted\n", username)
	return nil
}

func userRevokeSessions(ctx context.Context, e env, args []string) error {
	b, a, u, err := existingUserCommand(ctx, e, "revoke-sessions", args)
	if err != nil {
		return err
	}
	defer b.Close()
	username := u.Username
	sess, err := adminSessions(b, a)
	if err != nil {
		return err
	}
	n, err := sess.EndUserSessions(ctx, u.ID)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%d session(s) of %s revoked; access tokens issued until now are rejected\n", n, username)
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
