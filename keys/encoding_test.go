package keys

import (
	"encoding/base64"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/tokenserver/tokenserver/store"
)

// awkwardToken forges a token signed by the current ES256 key whose every
// segment holds both '-' and '_' and ends in a partial quantum, so every
// encoding mutation applies to every segment. ASCII text encodes to '-'
// and '_' only where '~' and '?' fall on the last byte of a 3-byte group,
// hence the fillers (an unknown header member is ignored, RFC 7515 §4);
// ES256 signatures are randomised, so a few attempts suffice.
func awkwardToken(t testing.TB, k *Key) string {
	t.Helper()
	for i := range 1000 {
		filler := "~~~???" + strings.Repeat("f", i%4)
		hdr := strings.TrimSuffix(header(ES256, k.ID, "at+jwt"), "}") + `,"x":"` + strings.Repeat("f", i/4%4) + filler + `"}`
		tok := forge(t, hdr, []byte(`{"sub":"u1","x":"`+filler+`"}`), ES256, k.Signer)
		if !slices.ContainsFunc(strings.Split(tok, "."), func(s string) bool { return !awkwardSegment(s) }) {
			return tok
		}
	}
	t.Fatal("no awkward token in 1000 attempts")
	return ""
}

// awkwardSegment: the segment uses both URL-safe characters and has
// unused trailing bits (a length that is not a multiple of 4).
func awkwardSegment(s string) bool {
	return strings.Contains(s, "-") && strings.Contains(s, "_") && len(s)%4 != 0
}

// encodingMutations returns re-encodings of tok's segments that are not
// canonical base64url (RFC 7515 §2); the same table as the verifier's.
func encodingMutations(t testing.TB, tok string) []struct{ name, token string } {
	t.Helper()
	parts := strings.Split(tok, ".")
	var out []struct{ name, token string }
	for i, seg := range []string{"header", "payload", "signature"} {
		add := func(name string, f func(string) string) {
			p := slices.Clone(parts)
			p[i] = f(p[i])
			out = append(out, struct{ name, token string }{seg + ": " + name, strings.Join(p, ".")})
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
			// A lenient decoder reads the same bytes: only the encoding
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
		struct{ name, token string }{"token: trailing LF", tok + "\n"},
		struct{ name, token string }{"token: trailing CRLF", tok + "\r\n"},
		struct{ name, token string }{"token: leading space", " " + tok},
	)
	return out
}

// nonCanonicalTail sets the lowest unused bit of s's last character; s's
// length must not be a multiple of 4.
func nonCanonicalTail(s string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	v := strings.IndexByte(alphabet, s[len(s)-1])
	return s[:len(s)-1] + string(alphabet[v|1])
}

// TestVerifyRefusesNonCanonicalEncoding: only canonical base64url without
// padding is accepted in every segment (RFC 7515 §2, §7.1).
func TestVerifyRefusesNonCanonicalEncoding(t *testing.T) {
	_, ms := allAlgorithms(t)
	m := ms[ES256]
	tok := awkwardToken(t, keyOf(t, m, ES256, store.KeyCurrent))
	if _, err := m.Verify(tok); err != nil {
		t.Fatalf("clean token rejected: %v", err)
	}
	for _, tc := range encodingMutations(t, tok) {
		t.Run(tc.name, func(t *testing.T) {
			if tc.token == tok {
				t.Fatal("mutation left the token unchanged")
			}
			got, err := m.Verify(tc.token)
			if !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("Verify(%q) = %v, want ErrInvalidToken", tc.token, err)
			}
			if got != nil {
				t.Fatalf("payload returned with the error: %q", got)
			}
		})
	}
}
