package verifier_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tokenserver/tokenserver/verifier"
)

// awkwardKey returns a key whose kid makes the encoded protected header
// hold both '-' and '_' and end in a partial quantum, so every encoding
// mutation applies to the header too. The header depends only on the kid;
// ASCII text encodes to '-' and '_' only where '~' and '?' fall on the
// last byte of a 3-byte group, so the kid holds three of each.
func awkwardKey(t testing.TB, prefix, alg string) *signingKey {
	t.Helper()
	k := newKey(t, "", alg)
	for i := range 1000 {
		k.kid = fmt.Sprintf("%s-%d-~~~???", prefix, i)
		hdr, _, _ := strings.Cut(k.sign(t, map[string]any{}, nil), ".")
		if awkwardSegment(hdr) {
			return k
		}
	}
	t.Fatal("no kid gives an awkward header")
	return nil
}

// awkwardToken signs valid claims (with a filler claim of varying length
// holding '~' and '?', see awkwardKey) until every segment is awkward. ES256 signatures are randomised and the
// jti is random, so a handful of attempts suffices.
func awkwardToken(t testing.TB, k *signingKey, is *testIssuer, now time.Time) string {
	t.Helper()
	for i := range 1000 {
		c := is.claims(now)
		c["x-filler"] = "~~~???" + strings.Repeat("f", i%4)
		tok := k.sign(t, c, nil)
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
// canonical base64url (RFC 7515 §2): a lenient decoder (other alphabet,
// padding, skipped whitespace, ignored trailing bits) reads most of them
// as the same bytes, which is exactly why each must be refused.
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
		struct{ name, token string }{"token: trailing LF", tok + "\n"},
		struct{ name, token string }{"token: trailing CRLF", tok + "\r\n"},
		struct{ name, token string }{"token: leading space", " " + tok},
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

// TestVerifyRefusesNonCanonicalEncoding: only canonical base64url without
// padding is accepted in every segment (RFC 7515 §2, §7.1), as the token
// server's own /introspect (keys.Manager.Verify) requires.
func TestVerifyRefusesNonCanonicalEncoding(t *testing.T) {
	clk := newClock()
	k := awkwardKey(t, "es", "ES256")
	is := newIssuer(t, k)
	v := newVerifier(t, is, clk, nil)
	tok := awkwardToken(t, k, is, clk.Now())
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatalf("clean token rejected: %v", err)
	}
	for _, tc := range encodingMutations(t, tok) {
		t.Run(tc.name, func(t *testing.T) {
			if tc.token == tok {
				t.Fatal("mutation left the token unchanged")
			}
			c, err := v.Verify(context.Background(), tc.token)
			if !errors.Is(err, verifier.ErrInvalidToken) {
				t.Fatalf("Verify(%q) = %v, want ErrInvalidToken", tc.token, err)
			}
			if c != nil {
				t.Fatalf("claims returned with the error: %+v", c)
			}
		})
	}
	// The clean token still verifies after the refusals.
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatalf("clean token rejected afterwards: %v", err)
	}
}
