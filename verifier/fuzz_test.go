package verifier_test

import (
	"context"
	"errors"
	"github.com/tokenserver/tokenserver/internal/jwstest"
	"strings"
	"testing"

	"github.com/tokenserver/tokenserver/verifier"
)

// FuzzVerify feeds arbitrary strings to Verify: it must never panic, must
// refuse with ErrInvalidToken, and must accept nothing but a genuine token byte for byte: every segment is
// canonical base64url (RFC 7515 §2), so no re-encoding of a genuine
// token passes either.
func FuzzVerify(f *testing.F) {
	clk := newClock()
	es := awkwardKey(f, "es", "ES256")
	ed := awkwardKey(f, "ed", "EdDSA")
	is := newIssuer(f, es, ed)
	v := newVerifier(f, is, clk, nil)
	genuine := map[string]bool{}
	for _, k := range []*signingKey{es, ed} {
		tok := awkwardToken(f, k, is, clk.Now())
		genuine[tok] = true
		signingInput := tok[:strings.LastIndexByte(tok, '.')]
		f.Add(tok)
		f.Add(signingInput + ".")
		f.Add(strings.Replace(tok, ".", "=.", 1))
		for _, m := range jwstest.EncodingMutations(f, tok) {
			f.Add(m.Token)
		}
	}
	f.Add("")
	f.Add("..")
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Fuzz(func(t *testing.T, token string) {
		c, err := v.Verify(context.Background(), token)
		if err != nil {
			if !errors.Is(err, verifier.ErrInvalidToken) {
				t.Fatalf("error %v does not wrap ErrInvalidToken", err)
			}
			if c != nil {
				t.Fatal("claims returned with an error")
			}
			return
		}
		if !genuine[token] {
			t.Fatalf("accepted a token that was never issued: %q", token)
		}
	})
}
