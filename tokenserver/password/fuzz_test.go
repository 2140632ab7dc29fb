package password

import (
	"context"
	"errors"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// fuzzSeeds are valid hashes of every format plus near misses.
func fuzzSeeds(f *testing.F) []string {
	f.Helper()
	b, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	if err != nil {
		f.Fatal(err)
	}
	salted, err := SaltedBcrypt("salt", string(b))
	if err != nil {
		f.Fatal(err)
	}
	return []string{
		"$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHQ$ZVrRXqxlLcWfcXCnMyv0m4Rpvh/bnCi7",
		"$argon2id$v=19$m=64,t=2,p=2$c29tZXNhbHQ$NQrDciL0Nsy1wJcvHr079rlYvyBxhBNi",
		"$argon2id$v=19$m=4294967295,t=1,p=1$c29tZXNhbHQ$ZVrRXqxlLcWfcXCnMyv0m4Rpvh/bnCi7",
		"$argon2id$v=19$m=64,t=0,p=0$$",
		"$argon2id$",
		string(b),
		"$2y$" + string(b[4:]),
		"$2b$31$" + string(b[7:]),
		salted,
		"$bcrypt-salted$$",
		// PBKDF2 in the stored form: Django's test vector (seasalt, 20000
		// iterations), a Keycloak-style sha512, and near misses.
		"$pbkdf2-sha256$i=20000$c2Vhc2FsdA$oBSd886ysm3AqYun62DOdin8YcfbU1z9cksZSuLP9r0",
		"$pbkdf2-sha256$i=1$c2Vhc2FsdA$oBSd886ysm3AqYun62DOdin8YcfbU1z9cksZSuLP9r0",
		"$pbkdf2-sha512$i=1000$MDEyMzQ1Njc4OWFiY2RlZg$" + strings.Repeat("A", 86),
		"$pbkdf2-sha512$i=10000001$MDEyMzQ1Njc4OWFiY2RlZg$" + strings.Repeat("A", 86),
		"$pbkdf2-sha256$i=0$$",
		"$pbkdf2-sha256$",
		"pbkdf2_sha256$20000$seasalt$oBSd886ysm3AqYun62DOdin8YcfbU1z9cksZSuLP9r0=",
		"",
		"$",
	}
}

// cheap reports whether verifying v costs little enough to run inside a fuzz
// iteration; the bounds themselves are tested elsewhere.
func cheap(v verifier) bool {
	switch v := v.(type) {
	case argon2idHash:
		return v.params.Memory <= 256 && v.params.Time <= 2
	case bcryptHash:
		cost, err := bcrypt.Cost(v.hash)
		return err == nil && cost <= 5
	case pbkdf2Hash:
		return v.iterations*len(v.key) <= 64*1000
	}
	return false
}

// FuzzCheck: Check never panics, and accepts exactly what Verify can parse.
func FuzzCheck(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, encoded string) {
		err := Check(encoded)
		if err != nil && !errors.Is(err, ErrMalformed) {
			t.Fatalf("Check(%q) = %v, want nil or ErrMalformed", encoded, err)
		}
		_, perr := parse(encoded)
		if (err == nil) != (perr == nil) {
			t.Fatalf("Check(%q) = %v but parse = %v", encoded, err, perr)
		}
	})
}

// FuzzVerify: Verify never panics and only returns ErrMalformed for what
// Check rejects.
func FuzzVerify(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add("pw", s)
		f.Add("", s)
	}
	h, err := NewHasher(Config{
		Params:    Params{Memory: 64, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16},
		AllowWeak: true,
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, password, encoded string) {
		if v, err := parse(encoded); err == nil && !cheap(v) {
			t.Skip("valid but too expensive to verify in a fuzz iteration")
		}
		ok, rehash, err := h.Verify(context.Background(), password, encoded)
		switch {
		case len(password) > MaxPasswordBytes:
			if !errors.Is(err, ErrTooLong) {
				t.Fatalf("Verify(%d-byte password) = %v, want ErrTooLong", len(password), err)
			}
		case Check(encoded) != nil:
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Verify(%q) = %v, want ErrMalformed", encoded, err)
			}
		case err != nil:
			t.Fatalf("Verify(%q) = %v on a hash Check accepts", encoded, err)
		}
		if !ok && rehash {
			t.Fatalf("Verify = (false, true): needsRehash without a match")
		}
	})
}

// FuzzImport: Import never panics, fails only with ErrMalformed, and what
// it returns is a stored form Check accepts.
func FuzzImport(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Add("pbkdf2_sha256$870000$seasalt$wJSpLMQRQz0Dhj/pFpbyjMj71B2gUYp6HJS5AU+32Ac=")
	f.Add("pbkdf2_sha256$1$$")
	f.Add("!unusable")
	f.Fuzz(func(t *testing.T, encoded string) {
		stored, err := Import(encoded)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Import(%q) = %v, want nil or ErrMalformed", encoded, err)
			}
			return
		}
		if err := Check(stored); err != nil {
			t.Fatalf("Import(%q) = %q, which Check refuses: %v", encoded, stored, err)
		}
	})
}

// FuzzKeycloak: Keycloak never panics, fails only with ErrMalformed, and
// what it returns is a stored form Check accepts.
func FuzzKeycloak(f *testing.F) {
	f.Add(`{"type":"password","secretData":"{\"value\":\"JsfNbCOIdZUbyBJ+BT+VoGI91Ec2rWLOvkLPDaX8e9k=\",\"salt\":\"P5rtFkGtPfoaryJ6PizUJw==\"}","credentialData":"{\"hashIterations\":27500,\"algorithm\":\"pbkdf2-sha256\"}"}`)
	f.Add(`{"type":"password","hashedSaltedValue":"JsfNbCOIdZUbyBJ+BT+VoGI91Ec2rWLOvkLPDaX8e9k=","salt":"P5rtFkGtPfoaryJ6PizUJw","hashIterations":1,"algorithm":"pbkdf2-sha512"}`)
	f.Add(`{"type":"password","value":"x"}`)
	f.Add(`{}`)
	f.Add(`null`)
	f.Fuzz(func(t *testing.T, credential string) {
		stored, err := Keycloak([]byte(credential))
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Keycloak(%q) = %v, want nil or ErrMalformed", credential, err)
			}
			return
		}
		if err := Check(stored); err != nil {
			t.Fatalf("Keycloak(%q) = %q, which Check refuses: %v", credential, stored, err)
		}
	})
}
