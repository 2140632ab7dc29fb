package main

import (
	"context"
	"crypto/pbkdf2"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Hashes written by the systems users come from, with known passwords: one
// of Django's own test vectors, and Keycloak credentials from public realm
// exports (see tokenserver/password's tests).
const (
	djangoLetmein = "pbkdf2_sha256$20000$seasalt$oBSd886ysm3AqYun62DOdin8YcfbU1z9cksZSuLP9r0=" // "lètmein"
	// "password", pbkdf2-sha256, current export form.
	keycloakPassword256 = `{"id":"4e67ce9c-1ddc-45db-b36e-db50ee1f4d9e","type":"password","userLabel":"My password","createdDate":1740654903754,"secretData":"{\"value\":\"JsfNbCOIdZUbyBJ+BT+VoGI91Ec2rWLOvkLPDaX8e9k=\",\"salt\":\"P5rtFkGtPfoaryJ6PizUJw==\",\"additionalParameters\":{}}","credentialData":"{\"hashIterations\":27500,\"algorithm\":\"pbkdf2-sha256\",\"additionalParameters\":{}}"}`
	// "password", pbkdf2-sha512 at Keycloak 22+'s default 210000 iterations.
	keycloakPassword512 = `{"type":"password","secretData":"{\"value\":\"LcvyBxfcQ4uQVI47BE3u9T1ptto0OhbTaYMqEOWhJ4ZRUr/0Pnsoa1qBmaxUG7rmW6g8vStey/bb/l+bn0/OUg==\",\"salt\":\"uI4PbEYEV7hyPNLPshHVEg==\",\"additionalParameters\":{}}","credentialData":"{\"hashIterations\":210000,\"algorithm\":\"pbkdf2-sha512\",\"additionalParameters\":{}}"}`
	// "admin", the older export form (Keycloak 3.x).
	keycloakLegacyAdmin = `{"type":"password","hashedSaltedValue":"4pf9K2jWSCcHC+CwsZP/qidN5pSmDUe6AX6wBerSGdBVKkExay8MWKx+EKmaaObZW6FVsD8vdW/ZsyUFD9gJ1Q==","salt":"1/qNkZ5kr77jOMOBPBogGw==","hashIterations":27500,"counter":0,"algorithm":"pbkdf2-sha256","digits":0,"period":0,"createdDate":1505479429154,"config":{}}`
)

// djangoHash is Django's PBKDF2PasswordHasher.encode.
func djangoHash(t *testing.T, pw, salt string, iterations int) string {
	t.Helper()
	key, err := pbkdf2.Key(sha256.New, pw, []byte(salt), iterations, 32)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("pbkdf2_sha256$%d$%s$%s", iterations, salt, base64.StdEncoding.EncodeToString(key))
}

// hashSchemes maps each user to the HASH column of `user list`.
func hashSchemes(t *testing.T, env map[string]string) map[string]string {
	t.Helper()
	schemes := map[string]string{}
	for _, line := range strings.Split(mustRunCLI(t, env, "", "user", "list"), "\n")[1:] {
		if f := strings.Fields(line); len(f) >= 4 {
			schemes[f[0]] = f[3]
		}
	}
	return schemes
}

// TestUserImportFormats: users imported from Django and Keycloak (both
// export forms, SHA-256 and SHA-512) log in with their old passwords
// through the password grant, and that login replaces the stored hash with
// argon2id. Bad lines are reported by number and not written.
func TestUserImportFormats(t *testing.T) {
	env := productionEnv(t)
	mustRunCLI(t, env, "", "migrate")
	secret := addClient(t, env, "--scopes", "read", "app")

	lines := strings.Join([]string{
		`{"username":"dj","hash":"` + djangoLetmein + `"}`,
		`{"username":"kc256","keycloak":` + keycloakPassword256 + `}`,
		`{"username":"kc512","keycloak":` + keycloakPassword512 + `}`,
		`{"username":"kclegacy","keycloak":` + keycloakLegacyAdmin + `}`,
		`{"username":"otp","keycloak":{"type":"otp","secretData":"{\"value\":\"JBSWY3DPEH\"}"}}`,
		`{"username":"greedy","hash":"pbkdf2_sha256$2000000000$seasalt$oBSd886ysm3AqYun62DOdin8YcfbU1z9cksZSuLP9r0="}`,
		`{"username":"both","hash":"` + djangoLetmein + `","keycloak":` + keycloakPassword256 + `}`,
		`{"username":"plain","keycloak":{"type":"password","value":"hunter2"}}`,
	}, "\n")
	file := filepath.Join(t.TempDir(), "users.jsonl")
	if err := os.WriteFile(file, []byte(lines), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := runCLI(t, env, "", "user", "import", file)
	if err == nil {
		t.Fatalf("import with bad lines exited 0:\n%s", out)
	}
	for _, want := range []string{
		"users.jsonl:5:", `type "otp"`,
		"users.jsonl:6:", "iterations",
		"users.jsonl:7:", "keycloak excludes hash",
		"users.jsonl:8:", "plain-text",
		"4 user(s) imported, 4 line(s) rejected",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("import output lacks %q:\n%s", want, out)
		}
	}
	wantSchemes := map[string]string{"dj": "pbkdf2-sha256", "kc256": "pbkdf2-sha256", "kc512": "pbkdf2-sha512", "kclegacy": "pbkdf2-sha256"}
	schemes := hashSchemes(t, env)
	for user, want := range wantSchemes {
		if schemes[user] != want {
			t.Errorf("after import, %s's hash is %q, want %q", user, schemes[user], want)
		}
	}
	for _, user := range []string{"otp", "greedy", "both", "plain"} {
		if _, ok := schemes[user]; ok {
			t.Errorf("rejected line's user %s was written", user)
		}
	}

	env["TOKENSERVER_ADDR"] = freeAddr(t)
	s := startServer(t, env)
	cfg := s.oauth2Config("app", secret, "read")
	ctx := context.Background()
	passwords := map[string]string{"dj": "lètmein", "kc256": "password", "kc512": "password", "kclegacy": "admin"}
	for user, pw := range passwords {
		if _, err := cfg.PasswordCredentialsToken(ctx, user, pw+"x"); retrieveErrorCode(err) != "invalid_grant" {
			t.Errorf("%s with a wrong password: got %v, want invalid_grant", user, err)
		}
		if _, err := cfg.PasswordCredentialsToken(ctx, user, pw); err != nil {
			t.Errorf("imported user %s cannot log in: %v", user, err)
		}
	}
	schemes = hashSchemes(t, env)
	for user := range passwords {
		if schemes[user] != "argon2id" {
			t.Errorf("after login, %s's hash is %q, want argon2id", user, schemes[user])
		}
	}
	for user, pw := range passwords {
		if _, err := cfg.PasswordCredentialsToken(ctx, user, pw); err != nil {
			t.Errorf("%s cannot log in with the upgraded hash: %v", user, err)
		}
	}
}

// TestUserImportUpsertStdin: `user import -` reads stdin; an existing user
// is refused without --upsert and updated with it, through the session
// service (the user's sessions end); the same import again changes nothing.
func TestUserImportUpsertStdin(t *testing.T) {
	env := productionEnv(t)
	mustRunCLI(t, env, "", "migrate")
	secret := addClient(t, env, "--scopes", "read", "app")
	mustRunCLI(t, env, `{"username":"ann","hash":"`+djangoLetmein+`"}`+"\n"+
		`{"username":"bob","keycloak":`+keycloakPassword256+`}`+"\n", "user", "import", "-")

	env["TOKENSERVER_ADDR"] = freeAddr(t)
	s := startServer(t, env)
	cfg := s.oauth2Config("app", secret, "read")
	ctx := context.Background()
	annTok, err := cfg.PasswordCredentialsToken(ctx, "ann", "lètmein")
	if err != nil {
		t.Fatalf("ann log in: %v", err)
	}
	bobTok, err := cfg.PasswordCredentialsToken(ctx, "bob", "password")
	if err != nil {
		t.Fatalf("bob log in: %v", err)
	}

	// ann gets a new password, bob is disabled with his hash unchanged
	// (upgraded to argon2id by his login, so the import's hash differs),
	// cy is new.
	upsert := `{"username":"ann","hash":"` + djangoHash(t, "new password", "Ue8bKkXwLCAevy4ZcQZ0bS", 1000) + `"}` + "\n" +
		`{"username":"bob","keycloak":` + keycloakPassword256 + `,"disabled":true}` + "\n" +
		`{"username":"cy","keycloak":` + keycloakPassword512 + `}` + "\n"

	out, err := runCLI(t, env, upsert, "user", "import", "-")
	if err == nil || !strings.Contains(out, `stdin:1: user "ann" already exists`) || !strings.Contains(out, "stdin:2:") ||
		!strings.Contains(out, "1 user(s) imported, 2 line(s) rejected") {
		t.Fatalf("import of existing users without --upsert: %v\n%s", err, out)
	}
	if _, err := refresh(ctx, cfg, annTok.RefreshToken); err != nil {
		t.Fatalf("a refused line ended ann's session: %v", err)
	}

	out = mustRunCLI(t, env, upsert, "user", "import", "--upsert", "-")
	if !strings.Contains(out, "0 user(s) imported, 2 updated, 1 unchanged") {
		t.Fatalf("upsert output:\n%s", out)
	}
	if _, err := refresh(ctx, cfg, annTok.RefreshToken); retrieveErrorCode(err) != "invalid_grant" {
		t.Errorf("ann's session after her hash was replaced: got %v, want invalid_grant", err)
	}
	if _, err := refresh(ctx, cfg, bobTok.RefreshToken); retrieveErrorCode(err) != "invalid_grant" {
		t.Errorf("bob's session after he was disabled: got %v, want invalid_grant", err)
	}
	for _, c := range []struct {
		user, pw string
		ok       bool
	}{
		{"ann", "lètmein", false},
		{"ann", "new password", true},
		{"bob", "password", false},
		{"cy", "password", true},
	} {
		_, err := cfg.PasswordCredentialsToken(ctx, c.user, c.pw)
		if c.ok && err != nil {
			t.Errorf("%s/%q after upsert: %v", c.user, c.pw, err)
		}
		if !c.ok && retrieveErrorCode(err) != "invalid_grant" {
			t.Errorf("%s/%q after upsert: got %v, want invalid_grant", c.user, c.pw, err)
		}
	}
	if list := mustRunCLI(t, env, "", "user", "list"); !strings.Contains(list, "disabled") {
		t.Errorf("bob is not listed as disabled:\n%s", list)
	}

	// Again, before anyone logs in: every hash and flag is already there.
	cyTok, err := cfg.PasswordCredentialsToken(ctx, "cy", "password")
	if err != nil {
		t.Fatal(err)
	}
	stable := `{"username":"bob","keycloak":` + keycloakPassword256 + `,"disabled":true}` + "\n"
	out = mustRunCLI(t, env, stable, "user", "import", "--upsert", "-")
	if !strings.Contains(out, "0 user(s) imported, 0 updated, 1 unchanged, 0 session(s) revoked, 0 line(s) rejected") {
		t.Errorf("repeated upsert output:\n%s", out)
	}
	if _, err := refresh(ctx, cfg, cyTok.RefreshToken); err != nil {
		t.Errorf("an unchanged upsert ended another user's session: %v", err)
	}
}
