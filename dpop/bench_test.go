package dpop

import (
	"crypto"
	"testing"
)

// BenchmarkCheck: the cost of one proof on the server, by algorithm (parse,
// one signature verification, claims, the memory replay cache).
func BenchmarkCheck(b *testing.B) {
	for _, tc := range []struct {
		name string
		key  crypto.Signer
	}{{"ES256", newECKey(b)}, {"EdDSA", newEdKey(b)}, {"PS256", newRSAKey(b)}} {
		b.Run(tc.name, func(b *testing.B) {
			proofs := make([]string, 1024)
			for i := range proofs {
				proofs[i] = mustProof(b, tc.key, "", ProofClaims{})
			}
			req := Request{Method: "POST", URL: testURL}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				// A fresh cache per round of proofs, so none is a replay.
				c := &Checker{Now: testClock}
				if _, err := c.Check(b.Context(), proofs[i%len(proofs)], req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkNonceCheck: a stateless nonce costs one AES-GCM open.
func BenchmarkNonceCheck(b *testing.B) {
	n, _ := NewNonces(make([]byte, 32), 0, testClock)
	nonce, _ := n.Issue()
	for b.Loop() {
		if err := n.Check(nonce); err != nil {
			b.Fatal(err)
		}
	}
}
