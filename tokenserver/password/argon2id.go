package password

import (
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

const (
	argon2idPrefix  = "$argon2id$"
	argon2idVersion = argon2.Version // 0x13 = 19
	// maxEncodedLen bounds any stored hash before it is parsed; the longest
	// valid form (64-byte salt, 128-byte hash, large parameters) is ~330 bytes.
	maxEncodedLen = 512
)

// argon2idHash is a parsed argon2id PHC string.
type argon2idHash struct {
	params Params
	salt   []byte
	key    []byte
}

// encode renders the PHC string form.
func (a argon2idHash) encode() string {
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2idVersion, a.params.Memory, a.params.Time, a.params.Threads,
		b64.EncodeToString(a.salt), b64.EncodeToString(a.key))
}

// matches recomputes the hash of password with the stored salt and
// parameters and compares in constant time.
func (a argon2idHash) matches(password string) bool {
	got := argon2.IDKey([]byte(password), a.salt, a.params.Time, a.params.Memory, a.params.Threads, a.params.KeyLen)
	return subtle.ConstantTimeCompare(got, a.key) == 1
}

// parseArgon2id parses "$argon2id$v=19$m=M,t=T,p=P$salt$hash". Every failure
// wraps ErrMalformed.
func parseArgon2id(encoded string) (argon2idHash, error) {
	if len(encoded) > maxEncodedLen {
		return argon2idHash{}, fmt.Errorf("%w: argon2id hash longer than %d bytes", ErrMalformed, maxEncodedLen)
	}
	rest, ok := strings.CutPrefix(encoded, argon2idPrefix)
	if !ok {
		return argon2idHash{}, fmt.Errorf("%w: not an argon2id hash", ErrMalformed)
	}
	fields := strings.Split(rest, "$")
	if len(fields) != 4 {
		return argon2idHash{}, fmt.Errorf("%w: argon2id hash needs version, parameters, salt and hash", ErrMalformed)
	}
	version, ok := strings.CutPrefix(fields[0], "v=")
	if !ok {
		return argon2idHash{}, fmt.Errorf("%w: argon2id version missing", ErrMalformed)
	}
	v, err := parseDecimal(version, 0xff)
	if err != nil || v != argon2idVersion {
		return argon2idHash{}, fmt.Errorf("%w: unsupported argon2id version %q", ErrMalformed, version)
	}

	var p Params
	names := [...]string{"m=", "t=", "p="}
	limits := [...]uint64{maxMemoryKiB, maxTime, maxThreads}
	values := [3]uint64{}
	parts := strings.Split(fields[1], ",")
	if len(parts) != len(names) {
		return argon2idHash{}, fmt.Errorf("%w: argon2id parameters must be m,t,p", ErrMalformed)
	}
	for i, part := range parts {
		digits, ok := strings.CutPrefix(part, names[i])
		if !ok {
			return argon2idHash{}, fmt.Errorf("%w: argon2id parameters must be m,t,p", ErrMalformed)
		}
		if values[i], err = parseDecimal(digits, limits[i]); err != nil {
			return argon2idHash{}, fmt.Errorf("%w: argon2id parameter %s%s: %v", ErrMalformed, names[i], digits, err)
		}
	}
	p.Memory, p.Time, p.Threads = uint32(values[0]), uint32(values[1]), uint8(values[2])

	b64 := base64.RawStdEncoding.Strict()
	salt, err := b64.DecodeString(fields[2])
	if err != nil {
		return argon2idHash{}, fmt.Errorf("%w: argon2id salt: %v", ErrMalformed, err)
	}
	key, err := b64.DecodeString(fields[3])
	if err != nil {
		return argon2idHash{}, fmt.Errorf("%w: argon2id hash: %v", ErrMalformed, err)
	}
	p.SaltLen, p.KeyLen = uint32(len(salt)), uint32(len(key))
	if err := p.validate(); err != nil {
		return argon2idHash{}, fmt.Errorf("%w: argon2id: %v", ErrMalformed, err)
	}
	return argon2idHash{params: p, salt: salt, key: key}, nil
}

// parseDecimal parses a PHC decimal: ASCII digits, no sign, no leading zero,
// at most limit.
func parseDecimal(s string, limit uint64) (uint64, error) {
	if s == "" || (len(s) > 1 && s[0] == '0') || len(s) > 10 {
		return 0, fmt.Errorf("not a canonical decimal")
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("not a canonical decimal")
		}
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, err
	}
	if n > limit {
		return 0, fmt.Errorf("above %d", limit)
	}
	return n, nil
}
