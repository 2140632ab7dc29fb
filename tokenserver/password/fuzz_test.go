package password

import (
	"context"
	"errors"
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
