package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/tokenserver/tokenserver/store"
)

// rawResponse is what a test needs of an HTTP answer.
type rawResponse struct {
	status int
	header http.Header
	code   string
}

// send makes one request with a raw (already encoded) body and Basic
// credentials given as the raw user-id:password string before base64.
func send(t *testing.T, method, url, body, basic string) rawResponse {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if basic != "" {
		req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(basic)))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var e struct {
		Error string `json:"error"`
	}
	_ = json.Unmarshal(b, &e)
	return rawResponse{status: resp.StatusCode, header: resp.Header, code: e.Error}
}

// TestNonTextInputOnPostgreSQL: NUL or invalid UTF-8 in a parameter or in
// the Basic credentials, sent to a server on a real PostgreSQL, is 400
// invalid_request with the usual headers on every client-authenticated
// endpoint, and the server logs no ERROR (before, PostgreSQL refused the
// string with SQLSTATE 22021 and the answer was a logged 500).
func TestNonTextInputOnPostgreSQL(t *testing.T) {
	env := productionEnv(t)
	mustRunCLI(t, env, "", "migrate")
	secret := addClient(t, env, "--scopes", "read", "app-a")
	mustRunCLI(t, env, "pw-alice-1\n", "user", "add", "alice")
	s := startServer(t, env)

	login := "grant_type=password&username=alice&password=pw-alice-1"
	tests := []struct {
		name, method, path, body, basic string
	}{
		{"NUL in username", "POST", "/token", "grant_type=password&username=ali%00ce&password=x", "app-a:" + secret},
		{"invalid UTF-8 in username", "POST", "/token", "grant_type=password&username=ali%FFce&password=x", "app-a:" + secret},
		{"Basic client id invalid UTF-8", "POST", "/token", login, "app-a%FF:" + secret},
		{"Basic client id NUL", "POST", "/token", login, "app-a%00:" + secret},
		{"body client_id invalid UTF-8", "POST", "/token", login + "&client_id=app-a%FF&client_secret=" + secret, ""},
		{"body client_id NUL", "POST", "/token", login + "&client_id=app-a%00", ""},
		{"revoke: Basic client id invalid UTF-8", "POST", "/revoke", "token=abc", "app-a%FF:" + secret},
		{"revoke: NUL in token", "POST", "/revoke", "token=a%00", "app-a:" + secret},
		{"introspect: Basic client id NUL", "POST", "/introspect", "token=abc", "app-a%00:" + secret},
		{"revocations: Basic client id invalid UTF-8", "GET", "/revocations", "", "app-a%FF:" + secret},
		{"revocations stream: Basic client id NUL", "GET", "/revocations/stream", "", "app-a%00:" + secret},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := send(t, tt.method, s.URL+tt.path, tt.body, tt.basic)
			if r.status != http.StatusBadRequest || r.code != "invalid_request" {
				t.Errorf("status %d error %q, want 400 invalid_request", r.status, r.code)
			}
			for name, want := range map[string]string{"Cache-Control": "no-store", "Pragma": "no-cache",
				"Content-Type": "application/json", "WWW-Authenticate": ""} {
				if got := r.header.Get(name); got != want {
					t.Errorf("%s = %q, want %q", name, got, want)
				}
			}
		})
	}
	// The server still works, and logged no ERROR for any of the above.
	if r := send(t, "POST", s.URL+"/token", login, "app-a:"+secret); r.status != http.StatusOK {
		t.Errorf("login after the bad requests: status %d %q", r.status, r.code)
	}
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	if logs := s.stderr.String(); strings.Contains(logs, "level=ERROR") {
		t.Errorf("the server logged an ERROR:\n%s", logs)
	}
}

// TestUsernameNormalizationOnPostgreSQL: the CLI stores usernames in their
// PRECIS UsernameCaseMapped form (RFC 8265), so NFC and NFD spellings are
// one account; every spelling logs in; refused names are refused with a
// one-line error naming them; users created before normalization (stored
// as given) still log in and can still be found by the CLI.
func TestUsernameNormalizationOnPostgreSQL(t *testing.T) {
	env := productionEnv(t)
	mustRunCLI(t, env, "", "migrate")
	secret := addClient(t, env, "--scopes", "read", "app")
	const nfc, nfd = "jos\u00e9", "jose\u0301"

	out := mustRunCLI(t, env, "pw-jose-1\n", "user", "add", nfd)
	if !strings.Contains(out, "user "+nfc+" added") || !strings.Contains(out, "normalized from") {
		t.Errorf("user add %q printed:\n%s", nfd, out)
	}
	for _, dup := range []string{nfc, "JOS\u00c9", "\uff2a\uff2f\uff33\u00c9"} {
		if out, err := runCLI(t, env, "pw-dup-12345\n", "user", "add", dup); err == nil || !strings.Contains(err.Error(), "already exists") {
			t.Errorf("user add %q after %q: %v\n%s", dup, nfd, err, out)
		}
	}
	for _, bad := range []string{"ali\u200bce", "ali\x00ce", "ali\tce", "alice  smith"} {
		out, err := runCLI(t, env, "pw-bad-12345\n", "user", "add", bad)
		switch {
		case err == nil:
			t.Errorf("user add %q succeeded:\n%s", bad, out)
		case strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), `invalid username "`):
			t.Errorf("user add %q: error %q, want one line naming the username", bad, err)
		}
	}
	file := filepath.Join(t.TempDir(), "users.jsonl")
	plain, _ := bcrypt.GenerateFromPassword([]byte("pw-imported"), bcrypt.MinCost)
	lines := `{"username":"Ren\u0065\u0301","hash":"` + string(plain) + `"}` + "\n" +
		`{"username":"ren\u00e9","hash":"` + string(plain) + `"}` + "\n" +
		`{"username":"bad\u200bname","hash":"` + string(plain) + `"}` + "\n"
	if err := os.WriteFile(file, []byte(lines), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := runCLI(t, env, "", "user", "import", file)
	if err == nil || !strings.Contains(out, "users.jsonl:2:") || !strings.Contains(out, "already exists") ||
		!strings.Contains(out, "users.jsonl:3:") || !strings.Contains(out, "invalid username") ||
		!strings.Contains(out, "1 user(s) imported, 2 line(s) rejected") {
		t.Errorf("import: %v\n%s", err, out)
	}

	// Users stored before normalization: as given, in mixed case and
	// decomposed, written straight to the store as the old CLI did.
	pg := openTestDB(t, env)
	legacyHash, _ := bcrypt.GenerateFromPassword([]byte("pw-legacy"), bcrypt.MinCost)
	now := time.Now()
	for i, name := range []string{"Carol Smith", "Ange\u0301la"} {
		u := store.User{ID: newUUID(), Username: name, PasswordHash: string(legacyHash), CreatedAt: now, UpdatedAt: now}
		if err := pg.CreateUser(t.Context(), u); err != nil {
			t.Fatalf("legacy user %d: %v", i, err)
		}
	}

	s := startServer(t, env)
	ctx := context.Background()
	cfg := s.oauth2Config("app", secret, "read")
	for _, tc := range []struct{ user, pw string }{
		{nfc, "pw-jose-1"}, {nfd, "pw-jose-1"}, {"JOS\u00c9", "pw-jose-1"}, {"\uff2a\uff2f\uff33\u00c9", "pw-jose-1"},
		{"ren\u00e9", "pw-imported"}, {"Rene\u0301", "pw-imported"},
		{"Carol Smith", "pw-legacy"}, {"carol smith", "pw-legacy"},
	} {
		tok, err := cfg.PasswordCredentialsToken(ctx, tc.user, tc.pw)
		if err != nil {
			t.Errorf("login as %q: %v", tc.user, err)
			continue
		}
		if claims := verifyWithJWKS(t, s.URL, tok.AccessToken); tc.pw == "pw-jose-1" && claims["username"] != nfc {
			t.Errorf("login as %q: username claim %q, want %q", tc.user, claims["username"], nfc)
		}
	}
	if _, err := cfg.PasswordCredentialsToken(ctx, "ali\u200bce", "pw"); retrieveErrorCode(err) != "invalid_request" {
		t.Errorf("login with a refused username: %v, want invalid_request", err)
	}

	// CLI lookups normalize too, and still find a legacy row by its
	// stored spelling.
	mustRunCLI(t, env, "", "user", "disable", "JOSE\u0301")
	if _, err := cfg.PasswordCredentialsToken(ctx, nfc, "pw-jose-1"); retrieveErrorCode(err) != "invalid_grant" {
		t.Errorf("login after user disable by another spelling: %v, want invalid_grant", err)
	}
	mustRunCLI(t, env, "", "user", "disable", "CAROL SMITH")
	if out := mustRunCLI(t, env, "", "user", "delete", "Ange\u0301la"); !strings.Contains(out, "deleted") {
		t.Errorf("user delete of a legacy decomposed name:\n%s", out)
	}
	if _, err := runCLI(t, env, "", "user", "delete", "ali\u200bce"); err == nil || !strings.Contains(err.Error(), `invalid username "ali\u200bce"`) {
		t.Errorf("user delete of a refused name: %v", err)
	}
	list := mustRunCLI(t, env, "", "user", "list")
	if strings.Count(list, "\n") != 4 || strings.Contains(list, "Ange") || !strings.Contains(list, nfc) {
		t.Errorf("user list:\n%s", list)
	}
}
