package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokenserver/tokenserver/internal/e2etest"
	"github.com/tokenserver/tokenserver/keys"
	"github.com/tokenserver/tokenserver/store"
	"github.com/tokenserver/tokenserver/store/postgres"
	"github.com/tokenserver/tokenserver/tokenserver"
)

// cliResult is what a user sees of one command: what it printed while
// running, and the error main reports (reportError) with its exit status.
type cliResult struct {
	stdout, stderr string
	err            error
	report         string // what main prints for err
}

// firstLine is the first line main prints for the error.
func (r cliResult) firstLine() string {
	line, _, _ := strings.Cut(r.report, "\n")
	return line
}

func runFull(t *testing.T, envm map[string]string, stdin string, args ...string) cliResult {
	t.Helper()
	var out, errOut e2etest.SyncBuffer
	err := run(context.Background(), args, envFrom(envm), strings.NewReader(stdin), &out, &errOut)
	var rep bytes.Buffer
	if err != nil {
		reportError(&rep, err)
	}
	return cliResult{stdout: out.String(), stderr: errOut.String(), err: err, report: rep.String()}
}

// TestUsageErrors: every command-line mistake is reported as one line that
// says what was wrong (prefixed once), then at most a one-line hint; nothing
// else is printed (no flag list). Usage mistakes exit 2, configuration
// mistakes 1.
func TestUsageErrors(t *testing.T) {
	const (
		userHint   = "Run 'tokenserver user -h' for usage."
		clientHint = "Run 'tokenserver client add -h' for usage."
	)
	tests := []struct {
		name      string
		args      []string
		env       map[string]string
		want      string
		wantHint  string // "" when the error is not a usage error
		wantUsage bool
	}{
		{name: "no command", args: nil,
			want: "tokenserver: missing command", wantHint: "Run 'tokenserver help' for the commands.", wantUsage: true},
		{name: "unknown command", args: []string{"frob"},
			want: `tokenserver: unknown command "frob"`, wantHint: "Run 'tokenserver help' for the commands.", wantUsage: true},
		{name: "missing subcommand", args: []string{"user"},
			want:     "tokenserver user: missing subcommand (add, update, set-password, disable, enable, delete, list, import, revoke-sessions)",
			wantHint: userHint, wantUsage: true},
		{name: "unknown subcommand", args: []string{"client", "frob"},
			want:     `tokenserver client: unknown subcommand "frob" (add, list, delete)`,
			wantHint: "Run 'tokenserver client -h' for usage.", wantUsage: true},
		{name: "flag before subcommand", args: []string{"user", "--database-url", "postgres://x", "list"},
			want:     "tokenserver user: flags go after the subcommand: tokenserver user <add|update|set-password|disable|enable|delete|list|import|revoke-sessions> [flags]",
			wantHint: userHint, wantUsage: true},
		{name: "unknown flag after argument", args: []string{"client", "add", "app", "--frob"},
			want: "tokenserver client add: flag provided but not defined: -frob", wantHint: clientHint, wantUsage: true},
		{name: "flag without its value", args: []string{"user", "disable", "alice", "--access-token-ttl"},
			want:     "tokenserver user disable: flag needs an argument: -access-token-ttl",
			wantHint: "Run 'tokenserver user disable -h' for usage.", wantUsage: true},
		{name: "bad flag value", args: []string{"client", "add", "app", "--client-access-token-ttl", "soon"},
			want:     `tokenserver client add: invalid value "soon" for flag -client-access-token-ttl: parse error`,
			wantHint: clientHint, wantUsage: true},
		{name: "missing argument", args: []string{"client", "add", "--public"},
			want: "tokenserver client add: missing CLIENT_ID", wantHint: clientHint, wantUsage: true},
		{name: "extra argument", args: []string{"client", "add", "app", "other", "--public"},
			want: `tokenserver client add: unexpected argument "other"`, wantHint: clientHint, wantUsage: true},
		{name: "list takes no argument", args: []string{"user", "list", "alice"},
			want: `tokenserver user list: unexpected argument "alice"`, wantHint: "Run 'tokenserver user list -h' for usage.", wantUsage: true},
		{name: "keys list takes no argument", args: []string{"keys", "list", "all"},
			want: `tokenserver keys list: unexpected argument "all"`, wantHint: "Run 'tokenserver keys list -h' for usage.", wantUsage: true},
		{name: "serve takes no argument", args: []string{"serve", "now"},
			want: `tokenserver serve: unexpected argument "now"`, wantHint: "Run 'tokenserver serve -h' for usage.", wantUsage: true},
		// The token endpoint's scope rule (RFC 6749 §3.3), not a looser one:
		// the old check let non-ASCII and control characters through.
		{name: "scope the token endpoint refuses", args: []string{"client", "add", "app", "--public", "--scopes", "read,lire-é"},
			want:     `tokenserver client add: --scopes: invalid scope "lire-é" (RFC 6749 §3.3: printable ASCII, no space, quote or backslash)`,
			wantHint: clientHint, wantUsage: true},
		{name: "admin command without a database", args: []string{"client", "list"},
			want: "tokenserver: --database-url [DATABASE_URL] is required: admin commands act on the servers' PostgreSQL database"},
		// The server's issuer: say which setting is missing rather than
		// blaming the default the user never set, with one prefix.
		{name: "public addr without issuer", args: []string{"serve", "--addr", "0.0.0.0:8080"},
			want: "tokenserver: --addr 0.0.0.0:8080 is not a loopback address, so the issuer must be given: set TOKENSERVER_ISSUER (or --issuer) to the URL clients reach this server at, e.g. https://auth.example.com, or http://localhost:8080 for a local container with its port published"},
		{name: "all interfaces without issuer", args: []string{"serve"}, env: map[string]string{"TOKENSERVER_ADDR": ":9000"},
			want: "tokenserver: --addr :9000 is not a loopback address, so the issuer must be given: set TOKENSERVER_ISSUER (or --issuer) to the URL clients reach this server at, e.g. https://auth.example.com, or http://localhost:9000 for a local container with its port published"},
		{name: "http issuer on a public host", args: []string{"serve", "--addr", "0.0.0.0:8080", "--issuer", "http://auth.example.com"},
			want: `tokenserver: --issuer [TOKENSERVER_ISSUER]: http is allowed only for loopback hosts; use https, got "http://auth.example.com"`},
		{name: "trusted proxy that is no address", args: []string{"serve", "--trusted-proxies", "10.0.0.1,proxy.local"},
			want: `tokenserver: --trusted-proxies [TOKENSERVER_TRUSTED_PROXIES]: "proxy.local" is neither a CIDR nor an IP address`},
		{name: "advertised scope the token endpoint refuses", args: []string{"serve", "--scopes", `read,"quoted"`},
			want: `tokenserver: --scopes [TOKENSERVER_SCOPES]: invalid scope "\"quoted\"" (RFC 6749 §3.3: printable ASCII, no space, quote or backslash)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runFull(t, tt.env, "", tt.args...)
			if r.err == nil {
				t.Fatalf("tokenserver %q succeeded, want an error\n%s%s", tt.args, r.stdout, r.stderr)
			}
			if got := errors.Is(r.err, errUsage); got != tt.wantUsage {
				t.Errorf("usage error (exit 2) = %v, want %v: %v", got, tt.wantUsage, r.err)
			}
			if got := r.firstLine(); got != tt.want {
				t.Errorf("first line:\n got %s\nwant %s", got, tt.want)
			}
			lines := strings.Split(strings.TrimSuffix(r.report, "\n"), "\n")
			if tt.wantHint != "" && (len(lines) != 2 || lines[1] != tt.wantHint) {
				t.Errorf("report %q, want the message and the hint %q", r.report, tt.wantHint)
			}
			if tt.wantHint == "" && len(lines) != 1 {
				t.Errorf("report %q, want one line", r.report)
			}
			if strings.Contains(r.stderr, "Flags (") || strings.Contains(r.stderr, "Usage:") {
				t.Errorf("a mistake printed the usage:\n%s", r.stderr)
			}
		})
	}
}

// TestHelp: `-h` on a group lists its subcommands one line each; on an
// admin command it lists no server-only flag and does not claim the
// embedded store; the version is printed by `version` and `--version`.
func TestHelp(t *testing.T) {
	t.Run("groups", func(t *testing.T) {
		for group, subs := range map[string][]string{
			"user":   {"add", "set-password", "disable", "enable", "delete", "list", "import", "revoke-sessions"},
			"client": {"add", "list", "delete"},
			"keys":   {"list", "rotate"},
		} {
			r := runFull(t, nil, "", group, "-h")
			if r.err != nil {
				t.Fatalf("%s -h: %v", group, r.err)
			}
			for _, s := range subs {
				n := 0
				for line := range strings.SplitSeq(r.stderr, "\n") {
					if f := strings.Fields(line); len(f) > 2 && f[0] == s && strings.HasPrefix(line, "  ") {
						n++
					}
				}
				if n != 1 {
					t.Errorf("%s -h: %d lines describe %q, want 1:\n%s", group, n, s, r.stderr)
				}
			}
		}
	})
	t.Run("admin flags", func(t *testing.T) {
		for _, args := range [][]string{
			{"client", "add", "-h"}, {"client", "list", "-h"}, {"user", "add", "-h"},
			{"user", "disable", "-h"}, {"keys", "list", "-h"}, {"migrate", "-h"},
		} {
			r := runFull(t, nil, "", args...)
			if r.err != nil {
				t.Fatalf("%q: %v", args, r.err)
			}
			for _, serverOnly := range []string{"embedded", "--addr", "--issuer", "--demo-", "--migrate", "--throttle", "--signing-key-file"} {
				if strings.Contains(r.stderr, serverOnly) {
					t.Errorf("%q help mentions %q:\n%s", args, serverOnly, r.stderr)
				}
			}
			if !strings.Contains(r.stderr, "--database-url [DATABASE_URL]") {
				t.Errorf("%q help does not list --database-url:\n%s", args, r.stderr)
			}
		}
		r := runFull(t, nil, "", "client", "add", "-h")
		for _, f := range []string{"--scopes (flag only)", "--audience (flag only)", "--grants (flag only)"} {
			if !strings.Contains(r.stderr, f) {
				t.Errorf("client add -h lacks %q:\n%s", f, r.stderr)
			}
		}
		if r := runFull(t, nil, "", "serve", "-h"); !strings.Contains(r.stderr, "embedded in-memory store") {
			t.Errorf("serve -h does not describe the embedded store:\n%s", r.stderr)
		}
	})
	t.Run("version", func(t *testing.T) {
		for _, args := range [][]string{{"version"}, {"--version"}, {"-version"}} {
			r := runFull(t, nil, "", args...)
			if r.err != nil || r.stdout != "tokenserver "+version+"\n" {
				t.Errorf("%q: %q, %v", args, r.stdout, r.err)
			}
		}
	})
}

// TestFlagsAfterArguments: flags placed after the positional argument are
// flags (before, `client add myapp --grants password` printed the usage and
// `user add alice --database-url …` failed); after "--" everything is an
// argument.
func TestFlagsAfterArguments(t *testing.T) {
	env := productionEnv(t)
	mustRunCLI(t, env, "", "migrate")
	mustRunCLI(t, env, "", "client", "add", "myapp", "--grants", "password", "--scopes", "read", "--generate-secret")
	noDB := map[string]string{}
	mustRunCLI(t, noDB, "correct horse battery staple\n", "user", "add", "alice", "--database-url", env["DATABASE_URL"])
	mustRunCLI(t, env, "", "user", "disable", "alice", "--access-token-ttl", "20m")
	mustRunCLI(t, env, "", "client", "add", "--public", "--", "-dash-app")

	clients := decodeList[clientJSON](t, mustRunCLI(t, env, "", "client", "list", "--json"))
	byID := map[string]clientJSON{}
	for _, c := range clients {
		byID[c.ClientID] = c
	}
	if c := byID["myapp"]; strings.Join(c.Grants, ",") != "password" || strings.Join(c.Scopes, ",") != "read" || c.Type != "confidential" {
		t.Errorf("myapp registered as %+v, want grants [password], scopes [read], confidential", c)
	}
	if c, ok := byID["-dash-app"]; !ok || c.Type != "public" {
		t.Errorf("client after --: %+v (found %v), want a public client -dash-app", c, ok)
	}
	users := decodeList[userJSON](t, mustRunCLI(t, env, "", "user", "list", "--json"))
	if len(users) != 1 || users[0].Username != "alice" || !users[0].Disabled {
		t.Errorf("users %+v, want alice, disabled", users)
	}
}

// TestClientAddIgnoresServerEnvironment: `client add` run in a server's
// environment does not give the client the server's scopes, audience or any
// other TOKENSERVER_* setting that shares a flag name: a client's settings
// come from its command line only.
func TestClientAddIgnoresServerEnvironment(t *testing.T) {
	env := productionEnv(t)
	mustRunCLI(t, env, "", "migrate")
	for k, v := range map[string]string{
		"TOKENSERVER_SCOPES":                      "admin,read",
		"TOKENSERVER_AUDIENCE":                    "https://api.example.com",
		"TOKENSERVER_GRANTS":                      "refresh_token",
		"TOKENSERVER_PUBLIC":                      "true",
		"TOKENSERVER_GENERATE_SECRET":             "true",
		"TOKENSERVER_CLIENT_ACCESS_TOKEN_TTL":     "1h",
		"TOKENSERVER_CLIENT_REFRESH_IDLE_TTL":     "1h",
		"TOKENSERVER_CLIENT_REFRESH_ABSOLUTE_TTL": "2h",
		"TOKENSERVER_JSON":                        "true",
	} {
		env[k] = v
	}
	out := mustRunCLI(t, env, strings.Repeat("s", 40)+"\n", "client", "add", "app")
	if strings.Contains(out, "client secret (shown once") {
		t.Errorf("TOKENSERVER_GENERATE_SECRET generated a secret:\n%s", out)
	}
	// Not JSON although TOKENSERVER_JSON is set: a table.
	if table := mustRunCLI(t, env, "", "client", "list"); !strings.HasPrefix(table, "CLIENT_ID") {
		t.Errorf("client list with TOKENSERVER_JSON set:\n%s", table)
	}
	clients := decodeList[clientJSON](t, mustRunCLI(t, env, "", "client", "list", "--json"))
	want := clientJSON{ClientID: "app", Type: "confidential", Grants: []string{"password", "refresh_token"},
		Scopes: []string{}, Audience: []string{}}
	if len(clients) != 1 {
		t.Fatalf("clients %+v", clients)
	}
	got := clients[0]
	got.CreatedAt = want.CreatedAt
	if !sameClient(got, want) {
		t.Errorf("client registered as\n %+v\nwant\n %+v", got, want)
	}
}

func sameClient(a, b clientJSON) bool {
	return a.ClientID == b.ClientID && a.Type == b.Type && slices.Equal(a.Grants, b.Grants) &&
		slices.Equal(a.Scopes, b.Scopes) && slices.Equal(a.Audience, b.Audience) &&
		a.AccessTokenTTL == b.AccessTokenTTL && a.RefreshIdleTTL == b.RefreshIdleTTL && a.RefreshAbsoluteTTL == b.RefreshAbsoluteTTL
}

// decodeList decodes a --json listing strictly into []T.
func decodeList[T any](t *testing.T, out string) []T {
	t.Helper()
	var list []T
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&list); err != nil {
		t.Fatalf("not a JSON array of the documented objects: %v\n%s", err, out)
	}
	if list == nil {
		t.Fatalf("null instead of an array:\n%s", out)
	}
	return list
}

// TestKeysListIsReadOnly: on a fresh, migrated database `keys list` creates
// no key (before, it created a current and a next key through the key
// manager's start-up).
func TestKeysListIsReadOnly(t *testing.T) {
	env := productionEnv(t)
	mustRunCLI(t, env, "", "migrate")
	if out := mustRunCLI(t, env, "", "keys", "list"); strings.Count(out, "\n") != 1 {
		t.Errorf("keys list on an empty database:\n%s", out)
	}
	if list := decodeList[keyJSON](t, mustRunCLI(t, env, "", "keys", "list", "--json")); len(list) != 0 {
		t.Errorf("keys list --json on an empty database: %+v", list)
	}
	if set := storedKeys(t, env); len(set) != 0 {
		t.Fatalf("keys list created %d key(s)", len(set))
	}
}

// openTestDB opens the store the environment's DATABASE_URL names, closed
// with the test: for tests that look behind the CLI's back.
func openTestDB(t *testing.T, env map[string]string) *postgres.Store {
	t.Helper()
	pg, err := postgres.Open(t.Context(), postgres.Config{URL: env["DATABASE_URL"], ConnectTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pg.Close)
	return pg
}

func storedKeys(t *testing.T, env map[string]string) []store.SigningKey {
	t.Helper()
	set, err := openTestDB(t, env).Keys(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// TestListJSON: `user list`, `client list` and `keys list` with --json
// print arrays of objects with the documented field names, and never a
// secret, a password hash or key material.
func TestListJSON(t *testing.T) {
	env := productionEnv(t)
	mustRunCLI(t, env, "", "migrate")
	secret := addClient(t, env, "app", "--scopes", "read,write",
		"--audience", "https://api.example.com", "--client-access-token-ttl", "5m")
	mustRunCLI(t, env, "", "client", "add", "spa", "--public", "--grants", "password")
	mustRunCLI(t, env, "pw-alice-1\n", "user", "add", "alice")
	mustRunCLI(t, env, "pw-bob-1\n", "user", "add", "bob")
	mustRunCLI(t, env, "", "user", "disable", "bob")
	// A key set, as a server creates it.
	m := newTestKeyManager(t, env)
	signing := ""
	for _, k := range m.Keys() {
		if k.Signing {
			signing = k.ID
		}
	}

	usersOut := mustRunCLI(t, env, "", "user", "list", "--json")
	users := decodeList[userJSON](t, usersOut)
	if len(users) != 2 || users[0].Username != "alice" || users[0].Disabled || users[0].HashScheme != "argon2id" ||
		users[1].Username != "bob" || !users[1].Disabled || users[0].ID == "" || users[0].CreatedAt.IsZero() || users[0].PasswordChangedAt.IsZero() {
		t.Errorf("users %+v", users)
	}
	clientsOut := mustRunCLI(t, env, "", "client", "list", "--json")
	clients := decodeList[clientJSON](t, clientsOut)
	if len(clients) != 2 {
		t.Fatalf("clients %+v", clients)
	}
	wantApp := clientJSON{ClientID: "app", Type: "confidential", Grants: []string{"password", "refresh_token"},
		Scopes: []string{"read", "write"}, Audience: []string{"https://api.example.com"}, AccessTokenTTL: 300}
	wantSPA := clientJSON{ClientID: "spa", Type: "public", Grants: []string{"password"}, Scopes: []string{}, Audience: []string{}}
	for i, want := range []clientJSON{wantApp, wantSPA} {
		if !sameClient(clients[i], want) || clients[i].CreatedAt.IsZero() {
			t.Errorf("client %d:\n %+v\nwant\n %+v", i, clients[i], want)
		}
	}
	keysOut := mustRunCLI(t, env, "", "keys", "list", "--json")
	list := decodeList[keyJSON](t, keysOut)
	if len(list) != 2 {
		t.Fatalf("keys %+v", list)
	}
	states := map[string]keyJSON{}
	for _, k := range list {
		states[k.State] = k
	}
	cur, next := states["current"], states["next"]
	if cur.KID != signing || !cur.Signing || !cur.Published || cur.Algorithm != "ES256" || cur.CreatedAt == nil ||
		cur.RetiredAt != nil || cur.RemoveAt != nil || next.KID == "" || next.Signing || !next.Published || next.ActivatesAt == nil {
		t.Errorf("keys %+v, want one signing current key %s and one published next key", list, signing)
	}
	// Nothing secret: the client secret and its hash, password hashes, the
	// sealed private keys or any private JWK member.
	forbidden := []string{secret, tokenserver.HashClientSecret(secret), "$argon2id$", `"d"`, "sealed", "private", "hash\""}
	for _, u := range storedUsers(t, env) {
		forbidden = append(forbidden, u.PasswordHash)
	}
	for name, out := range map[string]string{"user": usersOut, "client": clientsOut, "keys": keysOut} {
		for _, f := range forbidden {
			if strings.Contains(out, f) {
				t.Errorf("%s list --json contains %q:\n%s", name, f, out)
			}
		}
	}
}

func newTestKeyManager(t *testing.T, env map[string]string) *keys.Manager {
	t.Helper()
	ctx := context.Background()
	pg := openTestDB(t, env)
	kek, err := keys.ParseKEK(env["TOKENSERVER_KEK"])
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := keys.NewSealer(kek)
	if err != nil {
		t.Fatal(err)
	}
	m, err := keys.NewManager(ctx, keys.Config{Store: pg, Sealer: sealer})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func storedUsers(t *testing.T, env map[string]string) []store.User {
	t.Helper()
	users, err := openTestDB(t, env).ListUsers(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return users
}

// lineWatcher is a writer that reports on a channel when a line containing
// want has been written.
type lineWatcher struct {
	e2etest.SyncBuffer
	want string
	seen chan struct{}
	once sync.Once
}

func (w *lineWatcher) Write(p []byte) (int, error) {
	n, err := w.SyncBuffer.Write(p)
	if strings.Contains(w.String(), w.want) {
		w.once.Do(func() { close(w.seen) })
	}
	return n, err
}

// TestListeningLineAfterBind: when `serve` logs "tokenserver listening" the
// port is bound and answers: a client that starts at that line needs no
// retry loop.
func TestListeningLineAfterBind(t *testing.T) {
	addr := freeAddr(t)
	stderr := &lineWatcher{want: "tokenserver listening", seen: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--addr", addr, "--drain-delay", "0s"}, envFrom(nil), strings.NewReader(""), &e2etest.SyncBuffer{}, stderr)
	}()
	defer func() {
		cancel()
		<-done
	}()
	select {
	case <-stderr.seen:
	case err := <-done:
		t.Fatalf("serve exited: %v\n%s", err, stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("no listening line within 30s:\n%s", stderr.String())
	}
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatalf("GET /healthz right after the listening line: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/healthz: %d", resp.StatusCode)
	}
}
