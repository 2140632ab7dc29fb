package main

import (
	"context"
	"encoding/base64"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/tokenserver/tokenserver/store/storetest"
)

// productionEnv starts a fresh PostgreSQL database and Redis prefix and
// returns the environment of a production deployment on them.
func productionEnv(t *testing.T) map[string]string {
	t.Helper()
	dsn := storetest.StartPostgres(t)
	rd := storetest.StartRedis(t)
	kek := make([]byte, 32)
	for i := range kek {
		kek[i] = byte(i + 1)
	}
	return map[string]string{
		"DATABASE_URL":             dsn,
		"REDIS_URL":                rd.URL(),
		"TOKENSERVER_REDIS_PREFIX": rd.Prefix,
		"TOKENSERVER_KEK":          base64.StdEncoding.EncodeToString(kek),
	}
}

// TestProductionPath: migrate, add a client and a user with the CLI, serve,
// get tokens, restart the server, refresh with the token issued before the
// restart (families and signing keys survive), and check reuse detection.
func TestProductionPath(t *testing.T) {
	env := productionEnv(t)
	mustRunCLI(t, env, "", "migrate")
	mustRunCLI(t, env, "", "migrate") // idempotent
	secret := addClient(t, env, "--scopes", "read,write", "app")
	mustRunCLI(t, env, "correct horse battery staple\n", "user", "add", "alice")

	env["TOKENSERVER_ADDR"] = freeAddr(t)
	s := startServer(t, env)
	ctx := context.Background()
	cfg := s.oauth2Config("app", secret, "read")
	tok, err := cfg.PasswordCredentialsToken(ctx, "Alice", "correct horse battery staple") // usernames are case-insensitive
	if err != nil {
		t.Fatalf("password grant: %v", err)
	}
	before := verifyWithJWKS(t, s.URL, tok.AccessToken)
	if err := s.stop(); err != nil {
		t.Fatalf("graceful stop: %v", err)
	}

	s = startServer(t, env)
	// The signing key survived: a token issued before the restart verifies.
	verifyWithJWKS(t, s.URL, tok.AccessToken)
	next, err := refresh(ctx, cfg, tok.RefreshToken)
	if err != nil {
		t.Fatalf("refresh after restart: %v", err)
	}
	if after := verifyWithJWKS(t, s.URL, next.AccessToken); after["sid"] != before["sid"] || after["sub"] != before["sub"] {
		t.Errorf("session changed across restart: %v/%v → %v/%v", before["sid"], before["sub"], after["sid"], after["sub"])
	}
	if _, err := refresh(ctx, cfg, tok.RefreshToken); retrieveErrorCode(err) != "invalid_grant" {
		t.Fatalf("reuse after restart: got %v, want invalid_grant", err)
	}

	// Disabling the user revokes the user's sessions.
	tok2, err := cfg.PasswordCredentialsToken(ctx, "alice", "correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	mustRunCLI(t, env, "", "user", "disable", "alice")
	if _, err := refresh(ctx, cfg, tok2.RefreshToken); retrieveErrorCode(err) != "invalid_grant" {
		t.Errorf("refresh of a disabled user: got %v, want invalid_grant", err)
	}
	if _, err := cfg.PasswordCredentialsToken(ctx, "alice", "correct horse battery staple"); retrieveErrorCode(err) != "invalid_grant" {
		t.Errorf("login of a disabled user: got %v, want invalid_grant", err)
	}
	resp, err := http.Get(s.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/readyz = %d, want 200", resp.StatusCode)
	}
}

// TestAdminCLIErrors: bad input to the admin commands gives a clear error and
// a non-zero exit, and changes nothing.
func TestAdminCLIErrors(t *testing.T) {
	env := productionEnv(t)
	mustRunCLI(t, env, "", "migrate")
	mustRunCLI(t, env, "pw-one-12345\n", "user", "add", "bob")
	mustRunCLI(t, env, strings.Repeat("s", 40)+"\n", "client", "add", "svc")
	tests := []struct {
		name  string
		stdin string
		args  []string
		want  string
	}{
		{"duplicate user", "pw-dup-12345\n", []string{"user", "add", "BOB"}, "already exists"},
		{"empty password", "\n", []string{"user", "add", "carol"}, "empty password"},
		{"unknown user", "", []string{"user", "disable", "nobody"}, `no user "nobody"`},
		{"duplicate client", strings.Repeat("s", 40) + "\n", []string{"client", "add", "svc"}, "already exists"},
		{"short client secret", "short\n", []string{"client", "add", "svc2"}, "too short"},
		{"unknown grant", "", []string{"client", "add", "--public", "--grants", "implicit", "svc3"}, "unsupported grant type"},
		{"unknown client", "", []string{"client", "delete", "nope"}, `no client "nope"`},
		{"no database", "", []string{"user", "list", "--database-url", ""}, "DATABASE_URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := env
			if tt.name == "no database" {
				e = map[string]string{}
			}
			out, err := runCLI(t, e, tt.stdin, tt.args...)
			if err == nil {
				t.Fatalf("succeeded; output:\n%s", out)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q, want it to contain %q", err, tt.want)
			}
		})
	}
	list := mustRunCLI(t, env, "", "user", "list")
	if strings.Count(list, "\n") != 2 || !strings.Contains(list, "bob") || strings.Contains(list, "carol") {
		t.Errorf("user list after failed commands:\n%s", list)
	}
}

// TestUserImport: imported bcrypt and salted-bcrypt users log in with their
// old passwords; a bad line is reported with its number and not written.
func TestUserImport(t *testing.T) {
	env := productionEnv(t)
	mustRunCLI(t, env, "", "migrate")
	secret := addClient(t, env, "--scopes", "read", "app")

	plain, _ := bcrypt.GenerateFromPassword([]byte("old-password"), bcrypt.MinCost)
	salted, _ := bcrypt.GenerateFromPassword([]byte("salted-password"+"s4lt"), bcrypt.MinCost)
	y := "$2y$" + strings.TrimPrefix(string(plain), "$2a$")
	lines := strings.Join([]string{
		`{"username":"dave","hash":"` + string(plain) + `"}`,
		`{"username":"erin","hash":"` + string(salted) + `","salt":"s4lt"}`,
		`{"username":"frank","hash":"md5$abc"}`,
		`not json`,
		`{"username":"gina","hash":"` + y + `"}`,
	}, "\n")
	file := filepath.Join(t.TempDir(), "users.jsonl")
	if err := os.WriteFile(file, []byte(lines), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := runCLI(t, env, "", "user", "import", file)
	if err == nil {
		t.Fatalf("import with bad lines exited 0:\n%s", out)
	}
	for _, want := range []string{"users.jsonl:3:", "users.jsonl:4:", "3 user(s) imported, 2 line(s) rejected"} {
		if !strings.Contains(out, want) {
			t.Errorf("import output lacks %q:\n%s", want, out)
		}
	}

	env["TOKENSERVER_ADDR"] = freeAddr(t)
	s := startServer(t, env)
	cfg := s.oauth2Config("app", secret, "read")
	for user, pw := range map[string]string{"dave": "old-password", "erin": "salted-password", "gina": "old-password"} {
		if _, err := cfg.PasswordCredentialsToken(context.Background(), user, pw); err != nil {
			t.Errorf("imported user %s cannot log in: %v", user, err)
		}
	}
	if list := mustRunCLI(t, env, "", "user", "list"); strings.Contains(list, "frank") || !strings.Contains(list, "argon2id") {
		t.Errorf("after import and login, user list:\n%s", list)
	}
}
