package password_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/tokenserver/tokenserver/tokenserver/password"
)

// tiny are deliberately weak parameters so unit tests stay fast under -race.
var tiny = password.Params{Memory: 64, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16}

func newHasher(t testing.TB, p password.Params) *password.Hasher {
	t.Helper()
	h, err := password.NewHasher(password.Config{Params: p, AllowWeak: true, MaxConcurrent: 2, QueueTimeout: time.Minute})
	if err != nil {
		t.Fatalf("NewHasher(%+v): %v", p, err)
	}
	return h
}

func mustHash(t testing.TB, h *password.Hasher, pw string) string {
	t.Helper()
	encoded, err := h.Hash(context.Background(), pw)
	if err != nil {
		t.Fatalf("Hash: %v", err)
	}
	return encoded
}

func bcryptOf(t testing.TB, pw string) string {
	t.Helper()
	b, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatalf("bcrypt: %v", err)
	}
	return string(b)
}

func TestHashVerifyRoundTrip(t *testing.T) {
	tests := []struct {
		name     string
		password string
	}{
		{"ascii", "correct horse battery staple"},
		{"unicode", "pässwörd-密码-🔑"},
		{"one byte", "x"},
		{"max length", strings.Repeat("a", password.MaxPasswordBytes)},
		{"nul bytes", "a\x00b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHasher(t, tiny)
			encoded := mustHash(t, h, tt.password)
			if !strings.HasPrefix(encoded, "$argon2id$v=19$m=64,t=1,p=1$") {
				t.Fatalf("Hash = %q, want an argon2id PHC string at m=64,t=1,p=1", encoded)
			}
			if err := password.Check(encoded); err != nil {
				t.Fatalf("Check(own hash) = %v", err)
			}
			ok, rehash, err := h.Verify(context.Background(), tt.password, encoded)
			if err != nil || !ok || rehash {
				t.Fatalf("Verify = (%v, %v, %v), want (true, false, nil)", ok, rehash, err)
			}
			if again := mustHash(t, h, tt.password); again == encoded {
				t.Fatalf("two hashes of the same password are equal: salt is not random")
			}
		})
	}
}

func TestVerifyWrongPassword(t *testing.T) {
	h := newHasher(t, tiny)
	encoded := mustHash(t, h, "right")
	bc := bcryptOf(t, "right")
	salted, err := password.SaltedBcrypt("s4lt", bcryptOf(t, "rights4lt"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, password, encoded string
	}{
		{"argon2id wrong", "wrong", encoded},
		{"argon2id empty", "", encoded},
		{"argon2id prefix", "righ", encoded},
		{"argon2id longer", "right ", encoded},
		{"bcrypt wrong", "wrong", bc},
		{"bcrypt empty", "", bc},
		{"salted bcrypt without salt applied", "rights4lt", salted},
		{"salted bcrypt wrong", "wrong", salted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, rehash, err := h.Verify(context.Background(), tt.password, tt.encoded)
			if err != nil || ok || rehash {
				t.Fatalf("Verify = (%v, %v, %v), want (false, false, nil)", ok, rehash, err)
			}
		})
	}
}

func TestVerifyKnownArgon2idVectors(t *testing.T) {
	// Outputs of the reference argon2 CLI (password "password", salt
	// "somesalt", 24-byte tag), as published in x/crypto's argon2 tests,
	// written in PHC form.
	tests := []struct {
		name    string
		encoded string
	}{
		{"t=1 m=64 p=1", "$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHQ$ZVrRXqxlLcWfcXCnMyv0m4Rpvh/bnCi7"},
		{"t=2 m=64 p=2", "$argon2id$v=19$m=64,t=2,p=2$c29tZXNhbHQ$NQrDciL0Nsy1wJcvHr079rlYvyBxhBNi"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHasher(t, tiny)
			ok, _, err := h.Verify(context.Background(), "password", tt.encoded)
			if err != nil || !ok {
				t.Fatalf("Verify = (%v, %v), want (true, nil)", ok, err)
			}
			ok, _, err = h.Verify(context.Background(), "Password", tt.encoded)
			if err != nil || ok {
				t.Fatalf("Verify(wrong) = (%v, %v), want (false, nil)", ok, err)
			}
		})
	}
}

func TestVerifyNeedsRehash(t *testing.T) {
	current := password.Params{Memory: 128, Time: 2, Threads: 2, KeyLen: 32, SaltLen: 16}
	tests := []struct {
		name   string
		stored password.Params
		want   bool
	}{
		{"same", current, false},
		{"less memory", password.Params{Memory: 64, Time: 2, Threads: 2, KeyLen: 32, SaltLen: 16}, true},
		{"fewer passes", password.Params{Memory: 128, Time: 1, Threads: 2, KeyLen: 32, SaltLen: 16}, true},
		{"fewer threads", password.Params{Memory: 128, Time: 2, Threads: 1, KeyLen: 32, SaltLen: 16}, true},
		{"shorter key", password.Params{Memory: 128, Time: 2, Threads: 2, KeyLen: 16, SaltLen: 16}, true},
		{"shorter salt", password.Params{Memory: 128, Time: 2, Threads: 2, KeyLen: 32, SaltLen: 8}, true},
		{"stronger everywhere", password.Params{Memory: 256, Time: 3, Threads: 4, KeyLen: 64, SaltLen: 32}, false},
		{"stronger memory, weaker time", password.Params{Memory: 256, Time: 1, Threads: 2, KeyLen: 32, SaltLen: 16}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The stored hash is made by a Hasher with other parameters; the
			// verifying Hasher must read them from the string.
			encoded := mustHash(t, newHasher(t, tt.stored), "pw")
			want := fmt.Sprintf("$argon2id$v=19$m=%d,t=%d,p=%d$", tt.stored.Memory, tt.stored.Time, tt.stored.Threads)
			if !strings.HasPrefix(encoded, want) {
				t.Fatalf("stored hash %q does not start with %q", encoded, want)
			}
			ok, rehash, err := newHasher(t, current).Verify(context.Background(), "pw", encoded)
			if err != nil || !ok || rehash != tt.want {
				t.Fatalf("Verify = (%v, %v, %v), want (true, %v, nil)", ok, rehash, err, tt.want)
			}
		})
	}
}

func TestVerifyBcrypt(t *testing.T) {
	const pw = "hunter2"
	generated := bcryptOf(t, pw) // "$2a$04$..."
	tests := []struct {
		name, password, encoded string
	}{
		{"generated $2a$", pw, generated},
		{"generated as $2b$", pw, "$2b$" + generated[4:]},
		{"generated as $2y$", pw, "$2y$" + generated[4:]},
		// Openwall crypt_blowfish test vectors.
		{"openwall $2a$", "U*U", "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"},
		{"openwall $2y$", "U*U", "$2y$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"},
		{"openwall $2b$", "U*U*", "$2b$05$CCCCCCCCCCCCCCCCCCCCC.VGOzA784oUp/Z0DY336zx7pLYAy0lwK"},
		{"bytes after 72 are ignored", strings.Repeat("p", 72) + "ignored", bcryptOf(t, strings.Repeat("p", 72))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := password.Check(tt.encoded); err != nil {
				t.Fatalf("Check = %v", err)
			}
			h := newHasher(t, tiny)
			ok, rehash, err := h.Verify(context.Background(), tt.password, tt.encoded)
			if err != nil || !ok || !rehash {
				t.Fatalf("Verify = (%v, %v, %v), want (true, true, nil)", ok, rehash, err)
			}
			// Prepending changes a byte bcrypt reads, even past 72 bytes.
			ok, _, err = h.Verify(context.Background(), "!"+tt.password, tt.encoded)
			if err != nil || ok {
				t.Fatalf("Verify(wrong) = (%v, %v), want (false, nil)", ok, err)
			}
		})
	}
}

func TestSaltedBcrypt(t *testing.T) {
	tests := []struct {
		name, password, salt string
	}{
		{"short salt", "hunter2", "abc"},
		{"salt with separators", "hunter2", "$2b$/+=_-"},
		{"unicode", "pässwörd", "sälz"},
		{"empty password", "", "only-salt"},
		{"concatenation past 72 bytes", strings.Repeat("p", 70), "salt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			input := tt.password + tt.salt
			if len(input) > 72 {
				input = input[:72] // what the original application's bcrypt used
			}
			encoded, err := password.SaltedBcrypt(tt.salt, bcryptOf(t, input))
			if err != nil {
				t.Fatalf("SaltedBcrypt: %v", err)
			}
			wantPrefix := "$bcrypt-salted$" + base64.RawURLEncoding.EncodeToString([]byte(tt.salt)) + "$2a$04$"
			if !strings.HasPrefix(encoded, wantPrefix) {
				t.Fatalf("SaltedBcrypt = %q, want prefix %q", encoded, wantPrefix)
			}
			if err := password.Check(encoded); err != nil {
				t.Fatalf("Check = %v", err)
			}
			h := newHasher(t, tiny)
			ok, rehash, err := h.Verify(context.Background(), tt.password, encoded)
			if err != nil || !ok || !rehash {
				t.Fatalf("Verify = (%v, %v, %v), want (true, true, nil)", ok, rehash, err)
			}
			ok, _, err = h.Verify(context.Background(), "!"+tt.password, encoded)
			if err != nil || ok {
				t.Fatalf("Verify(wrong) = (%v, %v), want (false, nil)", ok, err)
			}
			if len(tt.password+tt.salt+tt.salt) <= 72 {
				// The salt must be appended exactly once.
				ok, _, err = h.Verify(context.Background(), tt.password+tt.salt, encoded)
				if err != nil || ok {
					t.Fatalf("Verify(password+salt) = (%v, %v), want (false, nil)", ok, err)
				}
			}
		})
	}
}

func TestSaltedBcryptRejects(t *testing.T) {
	valid := bcryptOf(t, "x")
	tests := []struct {
		name, salt, hash string
	}{
		{"empty salt", "", valid},
		{"salt too long", strings.Repeat("s", 257), valid},
		{"not bcrypt", "salt", "$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHQ$ZVrRXqxlLcWfcXCnMyv0m4Rpvh/bnCi7"},
		{"truncated bcrypt", "salt", valid[:59]},
		{"empty hash", "salt", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, err := password.SaltedBcrypt(tt.salt, tt.hash); !errors.Is(err, password.ErrMalformed) {
				t.Fatalf("SaltedBcrypt = (%q, %v), want ErrMalformed", got, err)
			}
		})
	}
}

// malformedHashes are stored hashes that must be rejected with ErrMalformed.
func malformedHashes(t testing.TB) map[string]string {
	const salt, key = "c29tZXNhbHQ", "ZVrRXqxlLcWfcXCnMyv0m4Rpvh/bnCi7"
	valid := bcryptOf(t, "x")
	return map[string]string{
		"empty":                   "",
		"plain text":              "hunter2",
		"dollar only":             "$",
		"argon2i":                 "$argon2i$v=19$m=64,t=1,p=1$" + salt + "$" + key,
		"argon2d":                 "$argon2d$v=19$m=64,t=1,p=1$" + salt + "$" + key,
		"argon2id prefix only":    "$argon2id$",
		"argon2id no version":     "$argon2id$m=64,t=1,p=1$" + salt + "$" + key,
		"argon2id version 16":     "$argon2id$v=16$m=64,t=1,p=1$" + salt + "$" + key,
		"argon2id version junk":   "$argon2id$v=x$m=64,t=1,p=1$" + salt + "$" + key,
		"argon2id no params":      "$argon2id$v=19$$" + salt + "$" + key,
		"argon2id params order":   "$argon2id$v=19$t=1,m=64,p=1$" + salt + "$" + key,
		"argon2id missing p":      "$argon2id$v=19$m=64,t=1$" + salt + "$" + key,
		"argon2id extra param":    "$argon2id$v=19$m=64,t=1,p=1,keyid=x$" + salt + "$" + key,
		"argon2id negative":       "$argon2id$v=19$m=-64,t=1,p=1$" + salt + "$" + key,
		"argon2id plus sign":      "$argon2id$v=19$m=+64,t=1,p=1$" + salt + "$" + key,
		"argon2id leading zero":   "$argon2id$v=19$m=064,t=1,p=1$" + salt + "$" + key,
		"argon2id hex":            "$argon2id$v=19$m=0x40,t=1,p=1$" + salt + "$" + key,
		"argon2id empty value":    "$argon2id$v=19$m=,t=1,p=1$" + salt + "$" + key,
		"argon2id t=0":            "$argon2id$v=19$m=64,t=0,p=1$" + salt + "$" + key,
		"argon2id p=0":            "$argon2id$v=19$m=64,t=1,p=0$" + salt + "$" + key,
		"argon2id m below 8p":     "$argon2id$v=19$m=15,t=1,p=2$" + salt + "$" + key,
		"argon2id no salt":        "$argon2id$v=19$m=64,t=1,p=1$$" + key,
		"argon2id short salt":     "$argon2id$v=19$m=64,t=1,p=1$c29tZQ$" + key,
		"argon2id no hash":        "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$",
		"argon2id short hash":     "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$ZVrRXqxlLcWfcXCn",
		"argon2id padded salt":    "$argon2id$v=19$m=64,t=1,p=1$" + salt + "=$" + key,
		"argon2id url base64":     "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$ZVrRXqxlLcWfcXCnMyv0m4Rpvh_bnCi7",
		"argon2id bad base64":     "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$!!!!",
		"argon2id missing fields": "$argon2id$v=19$m=64,t=1,p=1",
		"argon2id extra field":    "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key + "$x",
		"argon2id trailing space": "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key + " ",
		"argon2id huge":           "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + strings.Repeat("A", 4096),
		"bcrypt $2$":              "$2$04$" + valid[7:],
		"bcrypt $2x$":             "$2x$" + valid[4:],
		"bcrypt truncated":        valid[:59],
		"bcrypt extended":         valid + "A",
		"bcrypt cost 3":           "$2a$03$" + valid[7:],
		"bcrypt cost 00":          "$2a$00$" + valid[7:],
		"bcrypt cost one digit":   "$2a$4$" + valid[7:] + "A",
		"bcrypt cost letters":     "$2a$ab$" + valid[7:],
		"bcrypt bad alphabet":     valid[:20] + "+" + valid[21:],
		"bcrypt missing dollar":   "$2a$04" + valid[6:] + "A",
		"salted no salt":          "$bcrypt-salted$" + valid,
		"salted no hash":          "$bcrypt-salted$c2FsdA",
		"salted bad base64":       "$bcrypt-salted$c2F*dA" + valid,
		"salted padded base64":    "$bcrypt-salted$c2FsdA==" + valid,
		"salted argon2id":         "$bcrypt-salted$c2FsdA$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key,
		"salted bad bcrypt":       "$bcrypt-salted$c2FsdA" + valid[:59],
		"scrypt":                  "$scrypt$ln=16,r=8,p=1$c29tZXNhbHQ$ZVrRXqxlLcWfcXCnMyv0m4Rpvh",
		"md5 crypt":               "$1$saltsalt$2vnaRpHa6Jxjz5n83ok8Z0",
	}
}

func TestMalformed(t *testing.T) {
	for name, encoded := range malformedHashes(t) {
		t.Run(name, func(t *testing.T) {
			if err := password.Check(encoded); !errors.Is(err, password.ErrMalformed) {
				t.Fatalf("Check(%q) = %v, want ErrMalformed", encoded, err)
			}
			ok, rehash, err := newHasher(t, tiny).Verify(context.Background(), "x", encoded)
			if !errors.Is(err, password.ErrMalformed) || ok || rehash {
				t.Fatalf("Verify(%q) = (%v, %v, %v), want (false, false, ErrMalformed)", encoded, ok, rehash, err)
			}
		})
	}
}

func TestHugeParsedParamsRejected(t *testing.T) {
	const salt, key = "c29tZXNhbHQ", "ZVrRXqxlLcWfcXCnMyv0m4Rpvh/bnCi7"
	tests := []struct {
		name, params string
	}{
		{"memory above 1 GiB", "m=1048577,t=1,p=1"},
		{"memory uint32 max", "m=4294967295,t=1,p=1"},
		{"memory overflows uint32", "m=4294967296,t=1,p=1"},
		{"memory overflows uint64", "m=99999999999999999999999,t=1,p=1"},
		{"time above 100", "m=64,t=101,p=1"},
		{"time uint32 max", "m=64,t=4294967295,p=1"},
		{"threads above 16", "m=1024,t=1,p=17"},
		{"threads above uint8", "m=4096,t=1,p=256"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			encoded := "$argon2id$v=19$" + tt.params + "$" + salt + "$" + key
			if err := password.Check(encoded); !errors.Is(err, password.ErrMalformed) {
				t.Fatalf("Check = %v, want ErrMalformed", err)
			}
			// Verify must reject before computing; at these parameters a
			// computation would take far beyond the test's timeout.
			ok, _, err := newHasher(t, tiny).Verify(context.Background(), "password", encoded)
			if !errors.Is(err, password.ErrMalformed) || ok {
				t.Fatalf("Verify = (%v, %v), want ErrMalformed", ok, err)
			}
		})
	}
	t.Run("long key and salt", func(t *testing.T) {
		long := base64.RawStdEncoding.EncodeToString(make([]byte, 129))
		for _, encoded := range []string{
			"$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + long,
			"$argon2id$v=19$m=64,t=1,p=1$" + long + "$" + key,
		} {
			if err := password.Check(encoded); !errors.Is(err, password.ErrMalformed) {
				t.Errorf("Check(%q) = %v, want ErrMalformed", encoded, err)
			}
		}
	})
	t.Run("bcrypt cost above 16", func(t *testing.T) {
		encoded := "$2a$17$" + bcryptOf(t, "x")[7:]
		if err := password.Check(encoded); !errors.Is(err, password.ErrMalformed) {
			t.Fatalf("Check = %v, want ErrMalformed", err)
		}
	})
}

func TestCheckAccepts(t *testing.T) {
	salted, err := password.SaltedBcrypt("salt", bcryptOf(t, "xsalt"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, encoded string
	}{
		{"argon2id reference", "$argon2id$v=19$m=64,t=2,p=2$c29tZXNhbHQ$NQrDciL0Nsy1wJcvHr079rlYvyBxhBNi"},
		{"argon2id at bounds", "$argon2id$v=19$m=1048576,t=100,p=16$" +
			base64.RawStdEncoding.EncodeToString(make([]byte, 64)) + "$" + base64.RawStdEncoding.EncodeToString(make([]byte, 128))},
		{"argon2id own", mustHash(t, newHasher(t, tiny), "x")},
		{"bcrypt $2a$", bcryptOf(t, "x")},
		{"bcrypt $2b$ cost 16", "$2b$16$" + bcryptOf(t, "x")[7:]},
		{"bcrypt $2y$", "$2y$10$" + bcryptOf(t, "x")[7:]},
		{"salted bcrypt", salted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := password.Check(tt.encoded); err != nil {
				t.Fatalf("Check(%q) = %v, want nil", tt.encoded, err)
			}
		})
	}
}

func TestHashRejects(t *testing.T) {
	tests := []struct {
		name     string
		password string
		want     error
	}{
		{"empty", "", password.ErrEmpty},
		{"one byte too long", strings.Repeat("a", password.MaxPasswordBytes+1), password.ErrTooLong},
		{"huge", strings.Repeat("a", 1<<20), password.ErrTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := newHasher(t, tiny).Hash(context.Background(), tt.password)
			if !errors.Is(err, tt.want) || got != "" {
				t.Fatalf("Hash = (%q, %v), want %v", got, err, tt.want)
			}
		})
	}
}

func TestVerifyTooLong(t *testing.T) {
	h := newHasher(t, tiny)
	long := strings.Repeat("a", password.MaxPasswordBytes+1)
	encoded := mustHash(t, h, "a")
	tests := []struct {
		name    string
		encoded string
	}{
		{"argon2id", encoded},
		{"bcrypt", bcryptOf(t, "a")},
		{"malformed", "junk"}, // length is checked before the hash is parsed
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, rehash, err := h.Verify(context.Background(), long, tt.encoded)
			if !errors.Is(err, password.ErrTooLong) || ok || rehash {
				t.Fatalf("Verify = (%v, %v, %v), want ErrTooLong", ok, rehash, err)
			}
		})
	}
	t.Run("dummy", func(t *testing.T) {
		if err := h.VerifyDummy(context.Background(), long); !errors.Is(err, password.ErrTooLong) {
			t.Fatalf("VerifyDummy = %v, want ErrTooLong", err)
		}
	})
}

func TestVerifyDummy(t *testing.T) {
	h := newHasher(t, tiny)
	for _, pw := range []string{"", "x", strings.Repeat("a", password.MaxPasswordBytes)} {
		if err := h.VerifyDummy(context.Background(), pw); err != nil {
			t.Fatalf("VerifyDummy(%d bytes) = %v", len(pw), err)
		}
	}
}

func TestNewHasherConfig(t *testing.T) {
	tests := []struct {
		name    string
		cfg     password.Config
		want    password.Params
		wantErr bool
	}{
		{"zero is OWASP", password.Config{}, password.OWASP(), false},
		{"OWASP equivalent m=47104 t=1", password.Config{Params: password.Params{Memory: 47104, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16}},
			password.Params{Memory: 47104, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16}, false},
		{"weak rejected", password.Config{Params: tiny}, password.Params{}, true},
		{"weak memory rejected", password.Config{Params: password.Params{Memory: 19455, Time: 2, Threads: 1, KeyLen: 32, SaltLen: 16}}, password.Params{}, true},
		{"short key rejected", password.Config{Params: password.Params{Memory: 19456, Time: 2, Threads: 1, KeyLen: 16, SaltLen: 16}}, password.Params{}, true},
		{"short salt rejected", password.Config{Params: password.Params{Memory: 19456, Time: 2, Threads: 1, KeyLen: 32, SaltLen: 8}}, password.Params{}, true},
		{"weak allowed", password.Config{Params: tiny, AllowWeak: true}, tiny, false},
		{"partial params rejected", password.Config{Params: password.Params{Memory: 19456}, AllowWeak: true}, password.Params{}, true},
		{"memory above bound even if weak allowed", password.Config{Params: password.Params{Memory: 1<<20 + 1, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16}, AllowWeak: true}, password.Params{}, true},
		{"threads above bound", password.Config{Params: password.Params{Memory: 19456, Time: 2, Threads: 17, KeyLen: 32, SaltLen: 16}}, password.Params{}, true},
		{"negative MaxConcurrent", password.Config{Params: tiny, AllowWeak: true, MaxConcurrent: -1}, password.Params{}, true},
		{"negative QueueTimeout", password.Config{Params: tiny, AllowWeak: true, QueueTimeout: -time.Second}, password.Params{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := password.NewHasher(tt.cfg)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("NewHasher = %+v, want an error", h.Params())
				}
				return
			}
			if err != nil {
				t.Fatalf("NewHasher: %v", err)
			}
			if h.Params() != tt.want {
				t.Fatalf("Params() = %+v, want %+v", h.Params(), tt.want)
			}
		})
	}
}

// TestOWASPRoundTrip is the one test at production parameters.
func TestOWASPRoundTrip(t *testing.T) {
	if password.OWASP() != (password.Params{Memory: 19456, Time: 2, Threads: 1, KeyLen: 32, SaltLen: 16}) {
		t.Fatalf("OWASP() = %+v", password.OWASP())
	}
	h, err := password.NewHasher(password.Config{})
	if err != nil {
		t.Fatal(err)
	}
	encoded := mustHash(t, h, "correct horse")
	if !strings.HasPrefix(encoded, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("Hash = %q", encoded)
	}
	parts := strings.Split(encoded, "$")
	if len(parts[4]) != 22 || len(parts[5]) != 43 { // 16 and 32 bytes, unpadded
		t.Fatalf("salt/hash lengths %d/%d in %q", len(parts[4]), len(parts[5]), encoded)
	}
	if ok, rehash, err := h.Verify(context.Background(), "correct horse", encoded); err != nil || !ok || rehash {
		t.Fatalf("Verify = (%v, %v, %v)", ok, rehash, err)
	}
	if ok, _, err := h.Verify(context.Background(), "correct horsE", encoded); err != nil || ok {
		t.Fatalf("Verify(wrong) = (%v, %v)", ok, err)
	}
	// A hash at the test parameters is weaker than OWASP: upgrade it.
	weak := mustHash(t, newHasher(t, tiny), "correct horse")
	if ok, rehash, err := h.Verify(context.Background(), "correct horse", weak); err != nil || !ok || !rehash {
		t.Fatalf("Verify(weak) = (%v, %v, %v), want (true, true, nil)", ok, rehash, err)
	}
}
