// Package jwstest holds test helpers shared by the packages that verify
// JWS compact tokens (keys, verifier): the table of non-canonical base64url
// re-encodings every verifier must refuse (RFC 7515 §2), so both prove
// themselves against the same attacks.
package jwstest

import (
	"encoding/base64"
	"slices"
	"strings"
	"testing"
)

// Mutation is one re-encoding of a token.
type Mutation struct {
	Name  string
	Token string
}

// AwkwardSegment reports whether the segment uses both URL-safe characters and has
// unused trailing bits (a length that is not a multiple of 4).
func AwkwardSegment(s string) bool {
	return strings.Contains(s, "-") && strings.Contains(s, "_") && len(s)%4 != 0
}

// EncodingMutations returns re-encodings of tok's segments that are not
// canonical base64url (RFC 7515 §2): a lenient decoder (other alphabet,
// padding, skipped whitespace, ignored trailing bits) reads most of them
// as the same bytes, which is exactly why each must be refused.
func EncodingMutations(t testing.TB, tok string) []Mutation {
	t.Helper()
	parts := strings.Split(tok, ".")
	var out []Mutation
	for i, seg := range []string{"header", "payload", "signature"} {
		add := func(name string, f func(string) string) {
			p := slices.Clone(parts)
			p[i] = f(p[i])
			out = append(out, Mutation{seg + ": " + name, strings.Join(p, ".")})
		}
		mid := func(ins string) func(string) string {
			return func(s string) string { return s[:len(s)/2] + ins + s[len(s)/2:] }
		}
		std := strings.NewReplacer("-", "+", "_", "/")
		add("'+' for '-'", func(s string) string { return strings.ReplaceAll(s, "-", "+") })
		add("'/' for '_'", func(s string) string { return strings.ReplaceAll(s, "_", "/") })
		add("standard alphabet", std.Replace)
		add("padded", func(s string) string { return s + strings.Repeat("=", 4-len(s)%4) })
		add("standard alphabet, padded", func(s string) string { return std.Replace(s) + strings.Repeat("=", 4-len(s)%4) })
		add("one '='", func(s string) string { return s + "=" })
		add("'=' in the middle", mid("="))
		add("space in the middle", mid(" "))
		add("tab in the middle", mid("\t"))
		add("LF in the middle", mid("\n"))
		add("CR in the middle", mid("\r"))
		add("CRLF in the middle", mid("\r\n"))
		add("trailing LF", func(s string) string { return s + "\n" })
		add("leading space", func(s string) string { return " " + s })
		add("non-zero trailing bits", func(s string) string {
			mutated := nonCanonicalTail(s)
			// The lenient decoder reads the same bytes: only the encoding
			// differs.
			a, errA := base64.RawURLEncoding.DecodeString(s)
			b, errB := base64.RawURLEncoding.DecodeString(mutated)
			if errA != nil || errB != nil || string(a) != string(b) {
				t.Fatalf("trailing-bits mutation of %q changed the bytes", s)
			}
			return mutated
		})
	}
	out = append(out,
		Mutation{"token: trailing LF", tok + "\n"},
		Mutation{"token: trailing CRLF", tok + "\r\n"},
		Mutation{"token: leading space", " " + tok},
	)
	return out
}

// nonCanonicalTail sets the lowest unused bit of s's last character. s
// must have a length that is not a multiple of 4 (2 or 3 mod 4 leaves 4 or
// 2 unused bits, which canonical encoding sets to zero).
func nonCanonicalTail(s string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	v := strings.IndexByte(alphabet, s[len(s)-1])
	return s[:len(s)-1] + string(alphabet[v|1])
}
