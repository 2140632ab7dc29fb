package password

import (
	"encoding/base64"
	"fmt"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

const (
	saltedBcryptPrefix = "$bcrypt-salted$"
	bcryptHashLen      = 60 // "$2b$" + 2-digit cost + "$" + 22 salt + 31 hash chars
	// maxBcryptCost bounds imported hashes: cost 16 is ~5 s of CPU per check
	// on current hardware; each step doubles it.
	maxBcryptCost = 16
	// bcryptMaxInput is how many password bytes bcrypt uses; the rest is
	// ignored by every implementation.
	bcryptMaxInput = 72
	// maxSaltedBcryptSalt bounds the decoded application salt.
	maxSaltedBcryptSalt = 256
)

// bcryptHash is a validated bcrypt hash, with the password suffix (the
// application salt) to append for salted bcrypt.
type bcryptHash struct {
	hash   []byte // "$2a$" or "$2b$" form, accepted by x/crypto/bcrypt
	suffix string
}

// matches reports whether password (plus the application salt, if any)
// matches the hash. x/crypto/bcrypt compares in constant time.
func (b bcryptHash) matches(password string) bool {
	input := []byte(password + b.suffix)
	if len(input) > bcryptMaxInput {
		input = input[:bcryptMaxInput]
	}
	return bcrypt.CompareHashAndPassword(b.hash, input) == nil
}

// parseBcrypt validates "$2a$", "$2b$" or "$2y$" hashes. Every failure wraps
// ErrMalformed.
func parseBcrypt(encoded string) (bcryptHash, error) {
	if len(encoded) != bcryptHashLen {
		return bcryptHash{}, fmt.Errorf("%w: bcrypt hash must be %d bytes", ErrMalformed, bcryptHashLen)
	}
	hash := []byte(encoded)
	switch encoded[:4] {
	case "$2a$", "$2b$":
	case "$2y$":
		// PHP's name for the same algorithm as $2a$/$2b$.
		hash[2] = 'a'
	default:
		return bcryptHash{}, fmt.Errorf("%w: unsupported bcrypt variant", ErrMalformed)
	}
	if encoded[6] != '$' {
		return bcryptHash{}, fmt.Errorf("%w: bcrypt cost must be two digits", ErrMalformed)
	}
	cost, err := parseDecimal(strings.TrimPrefix(encoded[4:6], "0"), maxBcryptCost)
	if err != nil || cost < uint64(bcrypt.MinCost) {
		return bcryptHash{}, fmt.Errorf("%w: bcrypt cost %q outside [%d, %d]", ErrMalformed, encoded[4:6], bcrypt.MinCost, maxBcryptCost)
	}
	for _, c := range encoded[7:] {
		if !isBcryptBase64(c) {
			return bcryptHash{}, fmt.Errorf("%w: bcrypt hash has a character outside its alphabet", ErrMalformed)
		}
	}
	if _, err := bcrypt.Cost(hash); err != nil {
		return bcryptHash{}, fmt.Errorf("%w: bcrypt: %v", ErrMalformed, err)
	}
	return bcryptHash{hash: hash}, nil
}

// isBcryptBase64 reports whether c is in bcrypt's base64 alphabet.
func isBcryptBase64(c rune) bool {
	return c == '.' || c == '/' || ('A' <= c && c <= 'Z') || ('a' <= c && c <= 'z') || ('0' <= c && c <= '9')
}

// parseSaltedBcrypt parses "$bcrypt-salted$<base64url salt>$<bcrypt hash>".
// Every failure wraps ErrMalformed.
func parseSaltedBcrypt(encoded string) (bcryptHash, error) {
	rest, ok := strings.CutPrefix(encoded, saltedBcryptPrefix)
	if !ok {
		return bcryptHash{}, fmt.Errorf("%w: not a salted bcrypt hash", ErrMalformed)
	}
	encodedSalt, hash, ok := strings.Cut(rest, "$")
	if !ok {
		return bcryptHash{}, fmt.Errorf("%w: salted bcrypt needs a salt and a hash", ErrMalformed)
	}
	salt, err := base64.RawURLEncoding.Strict().DecodeString(encodedSalt)
	if err != nil {
		return bcryptHash{}, fmt.Errorf("%w: salted bcrypt salt: %v", ErrMalformed, err)
	}
	if len(salt) == 0 || len(salt) > maxSaltedBcryptSalt {
		return bcryptHash{}, fmt.Errorf("%w: salted bcrypt salt must be 1 to %d bytes", ErrMalformed, maxSaltedBcryptSalt)
	}
	b, err := parseBcrypt("$" + hash)
	if err != nil {
		return bcryptHash{}, fmt.Errorf("%w (in salted bcrypt)", err)
	}
	b.suffix = string(salt)
	return b, nil
}

// SaltedBcrypt encodes an imported "bcrypt over password+salt" hash, as
// stored by applications that append a per-user salt to the password before
// bcrypt, into the stored form $bcrypt-salted$<base64url salt>$<bcrypt hash>.
// It returns an error wrapping ErrMalformed if salt is empty or longer than
// 256 bytes or bcryptHash is not a supported bcrypt hash.
func SaltedBcrypt(salt, bcryptHash string) (string, error) {
	if salt == "" || len(salt) > maxSaltedBcryptSalt {
		return "", fmt.Errorf("%w: salted bcrypt salt must be 1 to %d bytes", ErrMalformed, maxSaltedBcryptSalt)
	}
	if _, err := parseBcrypt(bcryptHash); err != nil {
		return "", err
	}
	// bcryptHash starts with '$', which doubles as the separator.
	return saltedBcryptPrefix + base64.RawURLEncoding.EncodeToString([]byte(salt)) + bcryptHash, nil
}
