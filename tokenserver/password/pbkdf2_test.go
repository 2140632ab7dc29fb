package password_test

import (
	"context"
	"crypto/pbkdf2"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"strings"
	"testing"

	"github.com/tokenserver/tokenserver/tokenserver/password"
)

// assertImportedVerifies checks that an imported hash verifies pw, asks for
// a rehash, and refuses the wrong passwords (by default pw with its first
// byte changed; each costs a full PBKDF2 run, seconds under -race at real
// iteration counts).
func assertImportedVerifies(t *testing.T, stored, pw string, wrongs ...string) {
	t.Helper()
	if err := password.Check(stored); err != nil {
		t.Fatalf("Check(%q) = %v", stored, err)
	}
	h := newHasher(t, tiny)
	ok, rehash, err := h.Verify(context.Background(), pw, stored)
	if err != nil || !ok || !rehash {
		t.Fatalf("Verify(right) = (%v, %v, %v), want (true, true, nil)", ok, rehash, err)
	}
	if len(wrongs) == 0 {
		wrongs = []string{"Q" + pw[1:]}
	}
	for _, wrong := range wrongs {
		ok, rehash, err := h.Verify(context.Background(), wrong, stored)
		if err != nil || ok || rehash {
			t.Fatalf("Verify(%q) = (%v, %v, %v), want (false, false, nil)", wrong, ok, rehash, err)
		}
	}
}

// TestImportDjangoVectors: Django's own test vectors (tests/auth_tests/
// test_hashers.py, test_pbkdf2, across releases as the default iteration
// count grew) import and verify.
func TestImportDjangoVectors(t *testing.T) {
	const pw = "lètmein"
	tests := []struct {
		release, encoded string
	}{
		{"1.6", "pbkdf2_sha256$12000$seasalt$Ybw8zsFxqja97tY/o6G+Fy1ksY4U/Hw3DRrGED6Up4s="},
		{"1.8", "pbkdf2_sha256$20000$seasalt$oBSd886ysm3AqYun62DOdin8YcfbU1z9cksZSuLP9r0="},
		{"5.1", "pbkdf2_sha256$870000$seasalt$wJSpLMQRQz0Dhj/pFpbyjMj71B2gUYp6HJS5AU+32Ac="},
	}
	for _, tt := range tests {
		t.Run(tt.release, func(t *testing.T) {
			stored, err := password.Import(tt.encoded)
			if err != nil {
				t.Fatalf("Import = %v", err)
			}
			iterations := strings.Split(tt.encoded, "$")[1]
			// "seasalt" in base64: the salt string's bytes are the salt.
			if want := "$pbkdf2-sha256$i=" + iterations + "$c2Vhc2FsdA$"; !strings.HasPrefix(stored, want) {
				t.Fatalf("stored %q, want prefix %q", stored, want)
			}
			assertImportedVerifies(t, stored, pw)
		})
	}
}

// djangoEncode is Django's PBKDF2PasswordHasher.encode as documented:
// algorithm$iterations$salt$base64(PBKDF2-HMAC-SHA256(password, salt, 32)).
func djangoEncode(t *testing.T, pw, salt string, iterations int) string {
	t.Helper()
	key, err := pbkdf2.Key(sha256.New, pw, []byte(salt), iterations, 32)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("pbkdf2_sha256$%d$%s$%s", iterations, salt, base64.StdEncoding.EncodeToString(key))
}

func TestImportDjangoComputed(t *testing.T) {
	tests := []struct {
		name, pw, salt string
	}{
		{"22-char salt (Django 3.1+)", "correct horse", "Ue8bKkXwLCAevy4ZcQZ0bS"},
		{"unicode password", "pässwörd-密码-🔑", "abcdefghijkl"},
		{"one-char salt", "x", "s"},
		{"long password", strings.Repeat("p", password.MaxPasswordBytes), "salt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stored, err := password.Import(djangoEncode(t, tt.pw, tt.salt, 1000))
			if err != nil {
				t.Fatalf("Import = %v", err)
			}
			// Shortened, first byte changed, empty.
			assertImportedVerifies(t, stored, tt.pw, tt.pw[:len(tt.pw)-1], "Q"+tt.pw[1:], "")
		})
	}
}

// Keycloak credentials found in public realm exports and database dumps,
// whose passwords are the obvious ones. Each is what a Keycloak server
// wrote, so parsing is proven against real output.
const (
	// A Keycloak 3.x export: the older form with the hash at top level,
	// pbkdf2-sha256 with Keycloak's then default 512-bit key.
	keycloakLegacySHA256 = `{"type":"password","hashedSaltedValue":"4pf9K2jWSCcHC+CwsZP/qidN5pSmDUe6AX6wBerSGdBVKkExay8MWKx+EKmaaObZW6FVsD8vdW/ZsyUFD9gJ1Q==","salt":"1/qNkZ5kr77jOMOBPBogGw==","hashIterations":27500,"counter":0,"algorithm":"pbkdf2-sha256","digits":0,"period":0,"createdDate":1505479429154,"config":{}}`
	// Current form, pbkdf2-sha256 with a 256-bit key.
	keycloakSHA256 = `{"id":"4e67ce9c-1ddc-45db-b36e-db50ee1f4d9e","type":"password","userLabel":"My password","createdDate":1740654903754,"secretData":"{\"value\":\"JsfNbCOIdZUbyBJ+BT+VoGI91Ec2rWLOvkLPDaX8e9k=\",\"salt\":\"P5rtFkGtPfoaryJ6PizUJw==\",\"additionalParameters\":{}}","credentialData":"{\"hashIterations\":27500,\"algorithm\":\"pbkdf2-sha256\",\"additionalParameters\":{}}"}`
	// Current form, pbkdf2-sha256 with a 512-bit key (two PBKDF2 blocks).
	keycloakSHA256Long = `{"type":"password","createdDate":1654013036184,"secretData":"{\"value\":\"UsKAhMJtom6iw6vtMcMmJYIUqafeauEd6gaBKpJXByIc7SkJxJACkNlKOAEFci6cnoxU9jUPLATLk+PMno143g==\",\"salt\":\"kAzT9d8gCl6l5DjQ+D8Vlw==\",\"additionalParameters\":{}}","credentialData":"{\"hashIterations\":27500,\"algorithm\":\"pbkdf2-sha256\",\"additionalParameters\":{}}"}`
	// Keycloak 22+'s default: pbkdf2-sha512, 210000 iterations.
	keycloakSHA512 = `{"type":"password","secretData":"{\"value\":\"LcvyBxfcQ4uQVI47BE3u9T1ptto0OhbTaYMqEOWhJ4ZRUr/0Pnsoa1qBmaxUG7rmW6g8vStey/bb/l+bn0/OUg==\",\"salt\":\"uI4PbEYEV7hyPNLPshHVEg==\",\"additionalParameters\":{}}","credentialData":"{\"hashIterations\":210000,\"algorithm\":\"pbkdf2-sha512\",\"additionalParameters\":{}}"}`
)

func TestImportKeycloakExports(t *testing.T) {
	tests := []struct {
		name, credential, pw, prefix string
	}{
		{"legacy sha256", keycloakLegacySHA256, "admin", "$pbkdf2-sha256$i=27500$"},
		{"sha256", keycloakSHA256, "password", "$pbkdf2-sha256$i=27500$"},
		{"sha256 512-bit", keycloakSHA256Long, "Password1", "$pbkdf2-sha256$i=27500$"},
		{"sha512", keycloakSHA512, "password", "$pbkdf2-sha512$i=210000$"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stored, err := password.Keycloak([]byte(tt.credential))
			if err != nil {
				t.Fatalf("Keycloak = %v", err)
			}
			if !strings.HasPrefix(stored, tt.prefix) {
				t.Fatalf("stored %q, want prefix %q", stored, tt.prefix)
			}
			assertImportedVerifies(t, stored, tt.pw)
			// The stored form is itself importable, unchanged.
			if again, err := password.Import(stored); err != nil || again != stored {
				t.Fatalf("Import(stored) = %q, %v", again, err)
			}
		})
	}
}

// keycloakCredential builds a credential as Keycloak's
// Pbkdf2PasswordHashProvider does: PBKDF2 over the password (Java's
// PBEKeySpec, UTF-8) with a 16-byte salt, standard base64 with padding.
func keycloakCredential(t *testing.T, h func() hash.Hash, algorithm, pw string, iterations, keyBytes int) string {
	t.Helper()
	salt := []byte("0123456789abcdef")
	key, err := pbkdf2.Key(h, pw, salt, iterations, keyBytes)
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.StdEncoding.EncodeToString
	return fmt.Sprintf(`{"type":"password","secretData":"{\"value\":\"%s\",\"salt\":\"%s\"}","credentialData":"{\"hashIterations\":%d,\"algorithm\":\"%s\"}"}`,
		b64(key), b64(salt), iterations, algorithm)
}

func TestImportKeycloakComputed(t *testing.T) {
	tests := []struct {
		name      string
		h         func() hash.Hash
		algorithm string
		keyBytes  int
	}{
		{"sha256 256-bit", sha256.New, "pbkdf2-sha256", 32},
		{"sha512 512-bit", sha512.New, "pbkdf2-sha512", 64},
		{"sha512 1024-bit", sha512.New, "pbkdf2-sha512", 128},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const pw = "pässwörd-密码-🔑"
			stored, err := password.Keycloak([]byte(keycloakCredential(t, tt.h, tt.algorithm, pw, 1000, tt.keyBytes)))
			if err != nil {
				t.Fatalf("Keycloak = %v", err)
			}
			assertImportedVerifies(t, stored, pw, pw[:len(pw)-1], "Q"+pw[1:], "")
		})
	}
}

func TestImportRejects(t *testing.T) {
	const django = "pbkdf2_sha256$20000$seasalt$oBSd886ysm3AqYun62DOdin8YcfbU1z9cksZSuLP9r0="
	tests := []struct {
		name, encoded, want string
	}{
		{"django no iterations", "pbkdf2_sha256$$seasalt$oBSd886ysm3AqYun62DOdin8YcfbU1z9cksZSuLP9r0=", "iterations"},
		{"django zero iterations", "pbkdf2_sha256$0$seasalt$oBSd886ysm3AqYun62DOdin8YcfbU1z9cksZSuLP9r0=", "iterations"},
		{"django absurd iterations", "pbkdf2_sha256$10000001$seasalt$oBSd886ysm3AqYun62DOdin8YcfbU1z9cksZSuLP9r0=", "iterations"},
		{"django leading zero", "pbkdf2_sha256$020000$seasalt$oBSd886ysm3AqYun62DOdin8YcfbU1z9cksZSuLP9r0=", "iterations"},
		{"django empty salt", "pbkdf2_sha256$20000$$oBSd886ysm3AqYun62DOdin8YcfbU1z9cksZSuLP9r0=", "salt"},
		{"django unpadded hash", strings.TrimSuffix(django, "="), "hash"},
		{"django short hash", "pbkdf2_sha256$20000$seasalt$oBSd886ysm3AqYun62DOdin8YcfbU1z9cksZSuLP9", "hash"},
		{"django extra field", django + "$x", "pbkdf2_sha256$<iterations>"},
		{"django missing field", "pbkdf2_sha256$20000$seasalt", "pbkdf2_sha256$<iterations>"},
		{"django unusable", "!Xq2JvG0cL8eGzZx3dQ0lq1bJrX6dF9pW2sM4nB7", "unusable"},
		{"django sha1", "pbkdf2_sha1$10000$wz5B6WkasRoF$atJmJ1o+XfJxKq1+Nu1f1i57Z5I=", "unknown hash format"},
		{"django argon2", "argon2$argon2id$v=19$m=102400,t=2,p=8$c29tZXNhbHQ$ZVrRXqxlLcWfcXCnMyv0m4Rpvh", "unknown hash format"},
		{"canonical absurd iterations", "$pbkdf2-sha256$i=10000001$c2Vhc2FsdA$oBSd886ysm3AqYun62DOdin8YcfbU1z9cksZSuLP9r0", "iterations"},
		{"canonical work above bound", "$pbkdf2-sha256$i=5000001$c2Vhc2FsdA$" + base64.RawStdEncoding.EncodeToString(make([]byte, 64)), "blocks"},
		{"canonical sha384", "$pbkdf2-sha384$i=1000$c2Vhc2FsdA$oBSd886ysm3AqYun62DOdin8YcfbU1z9cksZSuLP9r0", "unknown hash format"},
		{"canonical no i=", "$pbkdf2-sha256$1000$c2Vhc2FsdA$oBSd886ysm3AqYun62DOdin8YcfbU1z9cksZSuLP9r0", "iterations missing"},
		{"canonical padded", "$pbkdf2-sha256$i=1000$c2Vhc2FsdA==$oBSd886ysm3AqYun62DOdin8YcfbU1z9cksZSuLP9r0", "salt"},
		{"canonical short key", "$pbkdf2-sha256$i=1000$c2Vhc2FsdA$oBSd886ysm3AqYun", "hash must be"},
		{"canonical long salt", "$pbkdf2-sha512$i=1000$" + base64.RawStdEncoding.EncodeToString(make([]byte, 129)) + "$oBSd886ysm3AqYun62DOdin8YcfbU1z9cksZSuLP9r0", "salt must be"},
		{"canonical extra field", "$pbkdf2-sha256$i=1000$c2Vhc2FsdA$oBSd886ysm3AqYun62DOdin8YcfbU1z9cksZSuLP9r0$x", "needs iterations"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := password.Import(tt.encoded)
			if !errors.Is(err, password.ErrMalformed) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Import(%q) = %q, %v; want ErrMalformed mentioning %q", tt.encoded, got, err, tt.want)
			}
			// What Import refuses, Verify refuses before any computation.
			ok, _, err := newHasher(t, tiny).Verify(context.Background(), "lètmein", tt.encoded)
			if !errors.Is(err, password.ErrMalformed) || ok {
				t.Fatalf("Verify = (%v, %v), want ErrMalformed", ok, err)
			}
		})
	}
}

func TestImportKeycloakRejects(t *testing.T) {
	secret := `"secretData":"{\"value\":\"JsfNbCOIdZUbyBJ+BT+VoGI91Ec2rWLOvkLPDaX8e9k=\",\"salt\":\"P5rtFkGtPfoaryJ6PizUJw==\"}"`
	data := func(iterations, algorithm string) string {
		return `"credentialData":"{\"hashIterations\":` + iterations + `,\"algorithm\":\"` + algorithm + `\"}"`
	}
	sha256Data := data("27500", "pbkdf2-sha256")
	tests := []struct {
		name, credential, want string
	}{
		{"not json", `not json`, "Keycloak credential"},
		{"array", `[]`, "Keycloak credential"},
		{"trailing data", `{"type":"password",` + secret + `,` + sha256Data + `} {}`, "trailing"},
		{"otp", `{"type":"otp",` + secret + `,` + sha256Data + `}`, `type "otp"`},
		{"no type", `{` + secret + `,` + sha256Data + `}`, `type ""`},
		{"plain-text value", `{"type":"password","value":"hunter2"}`, "plain-text"},
		{"plain-text value beside hash", `{"type":"password","value":"hunter2",` + secret + `,` + sha256Data + `}`, "plain-text"},
		{"mixed forms", `{"type":"password","hashIterations":27500,` + secret + `,` + sha256Data + `}`, "mixes"},
		{"sha1", `{"type":"password",` + secret + `,` + data("27500", "pbkdf2") + `}`, `algorithm "pbkdf2"`},
		{"argon2", `{"type":"password",` + secret + `,` + data("5", "argon2") + `}`, `algorithm "argon2"`},
		{"legacy no algorithm", `{"type":"password","hashedSaltedValue":"JsfNbCOIdZUbyBJ+BT+VoGI91Ec2rWLOvkLPDaX8e9k=","salt":"P5rtFkGtPfoaryJ6PizUJw==","hashIterations":27500}`, `algorithm ""`},
		{"zero iterations", `{"type":"password",` + secret + `,` + data("0", "pbkdf2-sha256") + `}`, "iterations"},
		{"negative iterations", `{"type":"password",` + secret + `,` + data("-1", "pbkdf2-sha256") + `}`, "iterations"},
		{"absurd iterations", `{"type":"password",` + secret + `,` + data("2147483647", "pbkdf2-sha256") + `}`, "iterations"},
		{"iterations overflow", `{"type":"password",` + secret + `,` + data("99999999999999999999", "pbkdf2-sha256") + `}`, "credentialData"},
		{"iterations as string", `{"type":"password",` + secret + `,` + data(`\"27500\"`, "pbkdf2-sha256") + `}`, "credentialData"},
		{"credentialData not json", `{"type":"password",` + secret + `,"credentialData":"x"}`, "credentialData"},
		{"secretData missing", `{"type":"password",` + sha256Data + `}`, "secretData"},
		{"bad value base64", `{"type":"password","secretData":"{\"value\":\"!!!!\",\"salt\":\"P5rtFkGtPfoaryJ6PizUJw==\"}",` + sha256Data + `}`, "hash value"},
		{"empty salt", `{"type":"password","secretData":"{\"value\":\"JsfNbCOIdZUbyBJ+BT+VoGI91Ec2rWLOvkLPDaX8e9k=\",\"salt\":\"\"}",` + sha256Data + `}`, "salt must be"},
		{"short key", `{"type":"password","secretData":"{\"value\":\"JsfNbCOIdZU=\",\"salt\":\"P5rtFkGtPfoaryJ6PizUJw==\"}",` + sha256Data + `}`, "hash must be"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := password.Keycloak([]byte(tt.credential))
			if !errors.Is(err, password.ErrMalformed) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Keycloak(%s) = %q, %v; want ErrMalformed mentioning %q", tt.credential, got, err, tt.want)
			}
		})
	}
}

// TestPBKDF2AtBounds: the largest accepted work parses (it is not verified:
// that would take seconds), one more block does not.
func TestPBKDF2AtBounds(t *testing.T) {
	salt := base64.RawStdEncoding.EncodeToString(make([]byte, 128))
	key := func(n int) string { return base64.RawStdEncoding.EncodeToString(make([]byte, n)) }
	for encoded, wantOK := range map[string]bool{
		"$pbkdf2-sha256$i=10000000$" + salt + "$" + key(32):    true,
		"$pbkdf2-sha256$i=5000000$" + salt + "$" + key(64):     true,
		"$pbkdf2-sha512$i=5000000$" + salt + "$" + key(128):    true,
		"$pbkdf2-sha256$i=5000000$" + salt + "$" + key(65):     false, // 3 blocks
		"$pbkdf2-sha512$i=10000000$" + salt + "$" + key(65):    false,
		"$pbkdf2-sha512$i=1$" + salt + "$" + key(129):          false,
		"$pbkdf2-sha256$i=10000001$" + salt + "$" + key(32):    false,
		"$pbkdf2-sha256$i=99999999999$" + salt + "$" + key(32): false,
	} {
		err := password.Check(encoded)
		if wantOK != (err == nil) {
			t.Errorf("Check(%.40q…) = %v, want ok=%v", encoded, err, wantOK)
		}
	}
}
