package postgres

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/tokenserver/tokenserver/store"
)

// isText reports whether PostgreSQL can hold s in a text column: valid
// UTF-8 without NUL. The server refuses anything else with SQLSTATE 22021
// (character_not_in_repertoire), an error that is none of the store's
// sentinels and so would reach a caller as a 500. The HTTP layer already
// refuses such input; these checks are the store's own guarantee.
func isText(s string) bool {
	return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0
}

// allText reports whether every string is text (see isText).
func allText(ss ...string) bool {
	for _, s := range ss {
		if !isText(s) {
			return false
		}
	}
	return true
}

// notFoundNotText is a lookup's answer for a key that is not text: no row
// can have it, so it is ErrNotFound, and no query is sent.
func notFoundNotText(op string) error {
	return fmt.Errorf("postgres: %s: key is not UTF-8 text without NUL: %w", op, store.ErrNotFound)
}

// errNotText is a write's answer for a value that is not text. It wraps
// none of the store's sentinels (in particular not ErrUnavailable: retrying
// cannot help) and names the field.
func errNotText(op, field string) error {
	return fmt.Errorf("postgres: %s: %s is not UTF-8 text without NUL", op, field)
}
