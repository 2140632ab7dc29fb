package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
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
	var out, errOut syncBuffer
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
			want:     "tokenserver user: missing subcommand (add, set-password, disable, enable, delete, list, import, revoke-sessions)",
			wantHint: userHint, wantUsage: true},
		{name: "unknown subcommand", args: []string{"client", "frob"},
			want:     `tokenserver client: unknown subcommand "frob" (add, list, delete)`,
			wantHint: "Run 'tokenserver client -h' for usage.", wantUsage: true},
		{name: "flag before subcommand", args: []string{"user", "--database-url", "postgres://x", "list"},
			want:     "tokenserver user: flags go after the subcommand: tokenserver user <add|set-password|disable|enable|delete|list|import|revoke-sessions> [flags]",
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
			want: "tokenserver: --issuer [TOKENSERVER_ISSUER] is required when --addr is not a loopback address: set your public https URL (e.g. https://auth.example.com)"},
		{name: "all interfaces without issuer", args: []string{"serve"}, env: map[string]string{"TOKENSERVER_ADDR": ":8080"},
			want: "tokenserver: --issuer [TOKENSERVER_ISSUER] is required when --addr is not a loopback address: set your public https URL (e.g. https://auth.example.com)"},
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
