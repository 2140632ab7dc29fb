package password

import (
	"crypto/pbkdf2"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"hash"
	"strings"
)

// Stored PBKDF2 hashes (imported from Django or Keycloak) have the PHC form
// $pbkdf2-<prf>$i=<iterations>$<salt>$<hash>, salt and hash in standard
// base64 without padding, as argon2id.
const (
	pbkdf2SHA256Prefix = "$pbkdf2-sha256$"
	pbkdf2SHA512Prefix = "$pbkdf2-sha512$"

	// maxPBKDF2Work bounds iterations × output blocks, the number of PRF
	// iterations one check runs: 10 million is about 1.6 s of CPU for
	// SHA-256 and 4.5 s for SHA-512 on current hardware, the same order as
	// the bcrypt bound, and ~8× the largest default in use today (Django
	// 6.0's 1.2 million).
	maxPBKDF2Work = 10_000_000
	// Imported salts are whatever the source used: Django's are 12 or 22
	// characters, Keycloak's 16 bytes.
	minPBKDF2Salt = 1
	maxPBKDF2Salt = 128
	// Keycloak stores 256-, 512- or 1024-bit keys; Django 256-bit.
	minPBKDF2Key = minKeyLen
	maxPBKDF2Key = maxKeyLen
)

// pbkdf2PRF names the HMAC hash a PBKDF2 hash was made with, as in the
// stored prefix.
type pbkdf2PRF string

const (
	prfSHA256 pbkdf2PRF = "sha256"
	prfSHA512 pbkdf2PRF = "sha512"
)

func (f pbkdf2PRF) new() hash.Hash {
	if f == prfSHA512 {
		return sha512.New()
	}
	return sha256.New()
}

func (f pbkdf2PRF) size() int {
	if f == prfSHA512 {
		return sha512.Size
	}
	return sha256.Size
}

// pbkdf2Hash is a validated PBKDF2-HMAC hash.
type pbkdf2Hash struct {
	prf        pbkdf2PRF
	iterations int
	salt       []byte
	key        []byte
}

// newPBKDF2Hash validates the parts of a PBKDF2 hash against the bounds.
// Every failure wraps ErrMalformed.
func newPBKDF2Hash(prf pbkdf2PRF, iterations int, salt, key []byte) (pbkdf2Hash, error) {
	switch {
	case iterations < 1 || iterations > maxPBKDF2Work:
		return pbkdf2Hash{}, fmt.Errorf("%w: pbkdf2 iterations %d outside [1, %d]", ErrMalformed, iterations, maxPBKDF2Work)
	case len(salt) < minPBKDF2Salt || len(salt) > maxPBKDF2Salt:
		return pbkdf2Hash{}, fmt.Errorf("%w: pbkdf2 salt must be %d to %d bytes", ErrMalformed, minPBKDF2Salt, maxPBKDF2Salt)
	case len(key) < minPBKDF2Key || len(key) > maxPBKDF2Key:
		return pbkdf2Hash{}, fmt.Errorf("%w: pbkdf2 hash must be %d to %d bytes", ErrMalformed, minPBKDF2Key, maxPBKDF2Key)
	}
	// Each output block of the PRF's size costs a full run of iterations.
	blocks := (len(key) + prf.size() - 1) / prf.size()
	if iterations*blocks > maxPBKDF2Work {
		return pbkdf2Hash{}, fmt.Errorf("%w: pbkdf2 %d iterations × %d blocks above %d", ErrMalformed, iterations, blocks, maxPBKDF2Work)
	}
	return pbkdf2Hash{prf: prf, iterations: iterations, salt: salt, key: key}, nil
}

// encode renders the stored form.
func (p pbkdf2Hash) encode() string {
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$pbkdf2-%s$i=%d$%s$%s", p.prf, p.iterations,
		b64.EncodeToString(p.salt), b64.EncodeToString(p.key))
}

// matches recomputes PBKDF2 over the UTF-8 password with the stored salt,
// iterations and key length, and compares in constant time.
func (p pbkdf2Hash) matches(password string) bool {
	got, err := pbkdf2.Key(p.prf.new, password, p.salt, p.iterations, len(p.key))
	if err != nil {
		// Only in FIPS 140-only mode, for short keys or salts: such a hash
		// cannot be checked here, so it matches nothing.
		return false
	}
	return subtle.ConstantTimeCompare(got, p.key) == 1
}

// needsRehash is always true: every PBKDF2 hash is replaced by argon2id.
func (pbkdf2Hash) needsRehash(Params) bool { return true }

// parsePBKDF2 parses "$pbkdf2-sha256$i=N$salt$hash" (or sha512). Every
// failure wraps ErrMalformed.
func parsePBKDF2(encoded string) (pbkdf2Hash, error) {
	var prf pbkdf2PRF
	rest, ok := strings.CutPrefix(encoded, pbkdf2SHA256Prefix)
	if ok {
		prf = prfSHA256
	} else if rest, ok = strings.CutPrefix(encoded, pbkdf2SHA512Prefix); ok {
		prf = prfSHA512
	} else {
		return pbkdf2Hash{}, fmt.Errorf("%w: not a pbkdf2-sha256 or pbkdf2-sha512 hash", ErrMalformed)
	}
	fields := strings.Split(rest, "$")
	if len(fields) != 3 {
		return pbkdf2Hash{}, fmt.Errorf("%w: pbkdf2 hash needs iterations, salt and hash", ErrMalformed)
	}
	digits, ok := strings.CutPrefix(fields[0], "i=")
	if !ok {
		return pbkdf2Hash{}, fmt.Errorf("%w: pbkdf2 iterations missing", ErrMalformed)
	}
	iterations, err := parseDecimal(digits, maxPBKDF2Work)
	if err != nil {
		return pbkdf2Hash{}, fmt.Errorf("%w: pbkdf2 iterations %q: %v", ErrMalformed, digits, err)
	}
	b64 := base64.RawStdEncoding.Strict()
	salt, err := b64.DecodeString(fields[1])
	if err != nil {
		return pbkdf2Hash{}, fmt.Errorf("%w: pbkdf2 salt: %v", ErrMalformed, err)
	}
	key, err := b64.DecodeString(fields[2])
	if err != nil {
		return pbkdf2Hash{}, fmt.Errorf("%w: pbkdf2 hash: %v", ErrMalformed, err)
	}
	return newPBKDF2Hash(prf, int(iterations), salt, key)
}
