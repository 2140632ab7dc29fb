// Package username is the one rule for what a username is: every entry
// point (the password grant, the admin CLI) passes names through Normalize
// before it stores or looks one up, so two strings a person reads as the
// same name ("josé" typed as NFC or NFD, "Alice" and "ａｌｉｃｅ" in full width)
// are the same account.
package username

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/text/secure/precis"
)

// ErrInvalid is wrapped by every refusal of Normalize.
var ErrInvalid = errors.New("not a valid username (RFC 8265)")

// Normalize returns the canonical form of name under the PRECIS
// UsernameCaseMapped profile (RFC 8265 §3.3): full-width characters mapped
// to their narrow forms, lower-cased, NFC, with the Bidi Rule; or an error
// wrapping ErrInvalid for a name the profile refuses (control characters,
// NUL, invalid UTF-8, symbols outside the IdentifierClass, an empty name).
//
// RFC 8265 §3.1 lets a username be several userparts separated by single
// spaces (username = userpart *(%x20 userpart)), each enforced on its own;
// that is what this does, so that existing names such as "john smith" stay
// valid. Leading, trailing or doubled spaces are refused (an empty
// userpart), which removes one more way to make look-alikes.
//
// Normalize is idempotent: Normalize(Normalize(x)) == Normalize(x).
func Normalize(name string) (string, error) {
	if name == "" {
		return "", fmt.Errorf("username: empty: %w", ErrInvalid)
	}
	parts := strings.Split(name, " ")
	for i, p := range parts {
		if p == "" {
			return "", fmt.Errorf("username: empty userpart (leading, trailing or repeated space): %w", ErrInvalid)
		}
		n, err := precis.UsernameCaseMapped.String(p)
		if err != nil {
			return "", fmt.Errorf("username: %w: %w", ErrInvalid, err)
		}
		// Width mapping can turn U+3000 IDEOGRAPHIC SPACE into a space;
		// the IdentifierClass then refuses it, but check rather than rely
		// on it: a userpart must not itself contain a separator.
		if n == "" || strings.Contains(n, " ") {
			return "", fmt.Errorf("username: empty or spaced userpart: %w", ErrInvalid)
		}
		parts[i] = n
	}
	return strings.Join(parts, " "), nil
}
