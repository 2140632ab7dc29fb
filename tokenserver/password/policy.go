package password

import (
	"errors"
	"fmt"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Password policy, after NIST SP 800-63B-4 §3.1.1.2 (password
// verifiers): a minimum length, a generous maximum, optionally a blocklist
// of known-breached passwords, and nothing else. In particular no
// composition rules (§3.1.1.2: verifiers SHALL NOT impose other
// composition rules, such as mixtures of character types) and no periodic
// expiry. §3.1.1.2 asks for 15 characters where the password is the only
// factor, as with the password grant; the default is 8, the floor it
// allows with a second factor, and operators raise it with MinLength.

// Policy errors. Check's errors wrap one of them (or ErrEmpty, ErrTooLong).
var (
	// ErrTooShort: fewer than Policy.MinLength characters.
	ErrTooShort = errors.New("password: too short")
	// ErrBreached: the password is in the configured blocklist of
	// known-breached passwords (SP 800-63B-4 §3.1.1.2: verifiers SHALL
	// compare new passwords against a blocklist).
	ErrBreached = errors.New("password: known to be breached")
)

const (
	// DefaultMinLength is the minimum length when Policy.MinLength is 0:
	// SP 800-63B-4 §3.1.1.2's "at least eight characters in length".
	DefaultMinLength = 8
	// FloorMinLength is the lowest MinLength a Policy accepts: the
	// configurable minimum only ever raises SP 800-63B's.
	FloorMinLength = 8
)

// Policy decides whether a new password may be set. It applies wherever a
// password is chosen (the CLI's user add and user set-password, the admin
// API); imported hashes never reach it, since no password is known.
// The zero value is DefaultMinLength and no blocklist.
type Policy struct {
	// MinLength is the fewest characters a password may have: Unicode code
	// points after NFC normalisation (SP 800-63B-4 §3.1.1.2 asks verifiers
	// to normalise; NFC keeps the characters the user typed, while a
	// combining sequence and its precomposed form count alike). 0 means DefaultMinLength; below FloorMinLength is an error.
	MinLength int
	// Blocklist, when set, refuses known-breached passwords. Its lifetime
	// is the caller's (Close it).
	Blocklist *Blocklist
}

// Validate reports a Policy that cannot be applied.
func (p Policy) Validate() error {
	if p.MinLength != 0 && p.MinLength < FloorMinLength {
		return fmt.Errorf("password: minimum length %d is below %d (NIST SP 800-63B-4 §3.1.1.2)", p.MinLength, FloorMinLength)
	}
	if p.MinLength > MaxPasswordBytes {
		return fmt.Errorf("password: minimum length %d exceeds the maximum of %d bytes", p.MinLength, MaxPasswordBytes)
	}
	return nil
}

// minLength is MinLength with its default.
func (p Policy) minLength() int {
	if p.MinLength == 0 {
		return DefaultMinLength
	}
	return p.MinLength
}

// Length is a password's length as the policy counts it: code points of
// its NFC form.
func Length(pw string) int {
	return utf8.RuneCountInString(norm.NFC.String(pw))
}

// Check returns nil if pw may be set, or an error wrapping ErrEmpty,
// ErrTooLong (more than MaxPasswordBytes bytes, the hasher's limit),
// ErrTooShort or ErrBreached, or the blocklist's read error. The messages
// name the rule, never the password.
func (p Policy) Check(pw string) error {
	if err := p.Validate(); err != nil {
		return err
	}
	if pw == "" {
		return ErrEmpty
	}
	if len(pw) > MaxPasswordBytes {
		return fmt.Errorf("%w: more than %d bytes", ErrTooLong, MaxPasswordBytes)
	}
	if n, min := Length(pw), p.minLength(); n < min {
		return fmt.Errorf("%w: %d characters, at least %d", ErrTooShort, n, min)
	}
	if p.Blocklist != nil {
		found, err := p.Blocklist.Contains(pw)
		if err != nil {
			return err
		}
		if found {
			return fmt.Errorf("%w: it appears in a list of breached passwords; choose another", ErrBreached)
		}
	}
	return nil
}
