package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/mail"
	"slices"
	"strings"
	"unicode/utf8"
)

// The user profile: Email, Attributes and Roles, with the rules every
// backend enforces alike, so that what one store accepts another does too.

// ErrInvalidProfile: a user's email, attributes or roles break the rules
// of CheckUserProfile. Nothing was stored.
var ErrInvalidProfile = errors.New("store: invalid user profile")

// UserProfile is the part of a User that UpdateUserProfile replaces.
type UserProfile struct {
	Email      string
	Attributes map[string]json.RawMessage
	Roles      []string
}

// Profile returns u's profile.
func (u User) Profile() UserProfile {
	return UserProfile{Email: u.Email, Attributes: u.Attributes, Roles: u.Roles}
}

// Bounds of a profile. Attributes travel in access tokens (every request
// of the user carries them), so they stay small.
const (
	// MaxEmailBytes is RFC 5321 §4.5.3.1.3's limit on a path (254 octets
	// between the angle brackets).
	MaxEmailBytes = 254
	// MaxAttributes is the most keys Attributes may have.
	MaxAttributes = 32
	// MaxAttributesBytes bounds Attributes encoded as compact JSON.
	MaxAttributesBytes = 4096
	// MaxAttributeNameBytes bounds one attribute name.
	MaxAttributeNameBytes = 64
	// MaxRoles is the most roles a user may have.
	MaxRoles = 32
	// MaxRoleBytes bounds one role.
	MaxRoleBytes = 64
)

// NormalizeEmail checks that s is one plain address (RFC 5322 addr-spec as
// net/mail parses it: no display name, no angle brackets, no comments) of
// at most MaxEmailBytes ASCII characters, and returns it with its domain
// lower-cased (domains are case-insensitive, RFC 5321 §2.4; the local part
// is the mailbox owner's and is kept). Uniqueness compares whole addresses
// case-insensitively anyway. Internationalised addresses (RFC 6531) are
// refused for now, so that every backend lower-cases alike. "" stays "".
func NormalizeEmail(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	if len(s) > MaxEmailBytes {
		return "", fmt.Errorf("email longer than %d bytes: %w", MaxEmailBytes, ErrInvalidProfile)
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return "", fmt.Errorf("email %q: only printable ASCII without spaces: %w", s, ErrInvalidProfile)
		}
	}
	addr, err := mail.ParseAddress(s)
	if err != nil || addr.Name != "" || addr.Address != s {
		// addr.Address != s: angle brackets, a comment or a quoted local
		// part net/mail re-spelled; ask for the plain form.
		return "", fmt.Errorf("email %q is not a plain address (name@domain): %w", s, ErrInvalidProfile)
	}
	at := strings.LastIndexByte(s, '@')
	local, domain := s[:at], s[at+1:]
	if !strings.Contains(domain, ".") && !strings.HasPrefix(domain, "[") {
		return "", fmt.Errorf("email %q: the domain has no dot: %w", s, ErrInvalidProfile)
	}
	return local + "@" + strings.ToLower(domain), nil
}

// EmailKey is the case-insensitive key under which emails are unique (the
// PostgreSQL index on lower(email) agrees: emails are ASCII).
func EmailKey(email string) string { return strings.ToLower(email) }

// ValidRole reports whether r may be a role: 1 to MaxRoleBytes printable
// ASCII characters without space, quote, backslash or comma (roles are
// listed comma-separated on the command line, and a `roles` claim is an
// array of them).
func ValidRole(r string) bool {
	if r == "" || len(r) > MaxRoleBytes {
		return false
	}
	for i := 0; i < len(r); i++ {
		c := r[i]
		if c <= ' ' || c >= 0x7f || c == '"' || c == '\\' || c == ',' {
			return false
		}
	}
	return true
}

// NormalizeRoles returns roles sorted without duplicates (nil for none),
// the form stores keep.
func NormalizeRoles(roles []string) []string {
	if len(roles) == 0 {
		return nil
	}
	out := slices.Clone(roles)
	slices.Sort(out)
	return slices.Compact(out)
}

// ValidAttributeName reports whether name may be an attribute name: an
// ASCII letter, then up to MaxAttributeNameBytes-1 letters, digits, '_'
// or '-'. Names become claim names in access tokens.
func ValidAttributeName(name string) bool {
	if name == "" || len(name) > MaxAttributeNameBytes {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		letter := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
		if !letter && (i == 0 || !('0' <= c && c <= '9' || c == '_' || c == '-')) {
			return false
		}
	}
	return true
}

// CheckUserProfile returns an error wrapping ErrInvalidProfile unless p
// is in the form stores keep: Email "" or NormalizeEmail's output; at most
// MaxAttributes attributes with valid names and valid JSON values,
// together at most MaxAttributesBytes as compact JSON; at most MaxRoles
// valid roles, sorted without duplicates (NormalizeRoles).
func CheckUserProfile(p UserProfile) error {
	if n, err := NormalizeEmail(p.Email); err != nil {
		return err
	} else if n != p.Email {
		return fmt.Errorf("email %q: the domain must be lower-case: %w", p.Email, ErrInvalidProfile)
	}
	if len(p.Attributes) > MaxAttributes {
		return fmt.Errorf("%d attributes, at most %d: %w", len(p.Attributes), MaxAttributes, ErrInvalidProfile)
	}
	for k, v := range p.Attributes {
		if !ValidAttributeName(k) {
			return fmt.Errorf("attribute name %q: a letter, then letters, digits, '_' or '-', at most %d: %w",
				k, MaxAttributeNameBytes, ErrInvalidProfile)
		}
		// UTF-8 and no U+0000: what PostgreSQL's jsonb can hold, so that
		// every backend refuses alike.
		if !json.Valid(v) || !utf8.Valid(v) || bytes.Contains(v, []byte(`\u0000`)) {
			return fmt.Errorf("attribute %q: not one JSON value in UTF-8 without U+0000: %w", k, ErrInvalidProfile)
		}
	}
	if n, err := AttributesSize(p.Attributes); err != nil || n > MaxAttributesBytes {
		return fmt.Errorf("attributes larger than %d bytes as JSON: %w", MaxAttributesBytes, ErrInvalidProfile)
	}
	if len(p.Roles) > MaxRoles {
		return fmt.Errorf("%d roles, at most %d: %w", len(p.Roles), MaxRoles, ErrInvalidProfile)
	}
	for i, r := range p.Roles {
		if !ValidRole(r) {
			return fmt.Errorf("role %q: 1 to %d printable ASCII characters, no space, quote, backslash or comma: %w",
				r, MaxRoleBytes, ErrInvalidProfile)
		}
		if i > 0 && p.Roles[i-1] >= r {
			return fmt.Errorf("roles must be sorted without duplicates: %w", ErrInvalidProfile)
		}
	}
	return nil
}

// AttributesSize is the length of attrs as one compact JSON object.
func AttributesSize(attrs map[string]json.RawMessage) (int, error) {
	if len(attrs) == 0 {
		return 2, nil // {}
	}
	b, err := json.Marshal(attrs) // compacts each value
	return len(b), err
}

// CompactAttributes returns a copy of attrs whose values are compact JSON
// (nil for none), so that backends agree byte for byte on what they return.
func CompactAttributes(attrs map[string]json.RawMessage) (map[string]json.RawMessage, error) {
	if len(attrs) == 0 {
		return nil, nil
	}
	out := make(map[string]json.RawMessage, len(attrs))
	for k, v := range attrs {
		var buf bytes.Buffer
		if err := json.Compact(&buf, v); err != nil {
			return nil, fmt.Errorf("attribute %q: %w", k, err)
		}
		out[k] = buf.Bytes()
	}
	return out, nil
}
