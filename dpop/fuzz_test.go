package dpop

import (
	"errors"
	"strings"
	"testing"
)

// FuzzParseProof: Parse never panics, refuses with ErrInvalidProof only,
// and whatever it accepts has the members it promises.
func FuzzParseProof(f *testing.F) {
	ec, ed, rs := newECKey(f), newEdKey(f), newRSAKey(f)
	for _, p := range []string{
		mustProof(f, ec, "", ProofClaims{}),
		mustProof(f, ed, "", ProofClaims{Nonce: "n", AccessToken: "a"}),
		mustProof(f, rs, "RS256", ProofClaims{}),
		rawProof(f, map[string]any{"typ": "dpop+jwt", "alg": "none", "jwk": jwkOf(f, ec.Public())}, validClaims(), "none", nil),
		"", ".", "..", "a.b.c", "eyJ9.e30.",
	} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, proof string) {
		p, err := Parse(proof)
		if err != nil {
			if !errors.Is(err, ErrInvalidProof) {
				t.Fatalf("Parse error %v does not wrap ErrInvalidProof", err)
			}
			return
		}
		if p.ID == "" || p.Method == "" || p.URL == "" || len(p.JKT) != 43 || strings.Count(proof, ".") != 2 {
			t.Fatalf("Parse accepted %q as %+v", proof, p)
		}
	})
}
