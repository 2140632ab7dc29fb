package verifier_test

import (
	"context"
	"strings"
	"testing"
)

// FuzzVerify feeds arbitrary strings to Verify: it must never panic, and
// must never accept anything but the genuine token (a different encoding
// of its signature is the only harmless variation).
func FuzzVerify(f *testing.F) {
	clk := newClock()
	es := newKey(f, "es", "ES256")
	ed := newKey(f, "ed", "EdDSA")
	is := newIssuer(f, es, ed)
	v := newVerifier(f, is, clk, nil)
	genuine := map[string]bool{}
	for _, k := range []*signingKey{es, ed} {
		tok := k.sign(f, is.claims(clk.Now()), nil)
		signingInput := tok[:strings.LastIndexByte(tok, '.')]
		genuine[signingInput] = true
		f.Add(tok)
		f.Add(signingInput + ".")
		f.Add(strings.Replace(tok, ".", "=.", 1))
	}
	f.Add("")
	f.Add("..")
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Fuzz(func(t *testing.T, token string) {
		c, err := v.Verify(context.Background(), token)
		if err != nil {
			if c != nil {
				t.Fatal("claims returned with an error")
			}
			return
		}
		i := strings.LastIndexByte(token, '.')
		if i < 0 || !genuine[token[:i]] {
			t.Fatalf("accepted a token that was never issued: %q", token)
		}
	})
}
