package verifier_test

import (
	"context"
	"errors"
	"fmt"
	"github.com/tokenserver/tokenserver/internal/jwstest"
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
		if jwstest.AwkwardSegment(hdr) {
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
		if !slices.ContainsFunc(strings.Split(tok, "."), func(s string) bool { return !jwstest.AwkwardSegment(s) }) {
			return tok
		}
	}
	t.Fatal("no awkward token in 1000 attempts")
	return ""
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
	for _, tc := range jwstest.EncodingMutations(t, tok) {
		t.Run(tc.Name, func(t *testing.T) {
			if tc.Token == tok {
				t.Fatal("mutation left the token unchanged")
			}
			c, err := v.Verify(context.Background(), tc.Token)
			if !errors.Is(err, verifier.ErrInvalidToken) {
				t.Fatalf("Verify(%q) = %v, want ErrInvalidToken", tc.Token, err)
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
