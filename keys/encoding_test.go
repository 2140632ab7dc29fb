package keys

import (
	"errors"
	"github.com/tokenserver/tokenserver/internal/jwstest"
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
		if !slices.ContainsFunc(strings.Split(tok, "."), func(s string) bool { return !jwstest.AwkwardSegment(s) }) {
			return tok
		}
	}
	t.Fatal("no awkward token in 1000 attempts")
	return ""
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
	for _, tc := range jwstest.EncodingMutations(t, tok) {
		t.Run(tc.Name, func(t *testing.T) {
			if tc.Token == tok {
				t.Fatal("mutation left the token unchanged")
			}
			got, err := m.Verify(tc.Token)
			if !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("Verify(%q) = %v, want ErrInvalidToken", tc.Token, err)
			}
			if got != nil {
				t.Fatalf("payload returned with the error: %q", got)
			}
		})
	}
}
