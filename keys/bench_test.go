package keys

import (
	"testing"
)

// benchPayload is the size of a typical access-token claim set.
var benchPayload = []byte(`{"iss":"https://auth.example.com","sub":"0b7e8f1c-6a3d-4f0e-9c1a-2d4b5e6f7a8b","aud":["https://api.example.com"],"client_id":"web","scope":"read write profile","sid":"4c2d1e0f-9a8b-7c6d-5e4f-3a2b1c0d9e8f","jti":"b9f8e7d6-c5b4-a392-8170-6f5e4d3c2b1a","iat":1893456000,"nbf":1893456000,"exp":1893456900}`)

func BenchmarkSign(b *testing.B) {
	_, ms := allAlgorithms(b)
	for _, alg := range []string{ES256, RS256, EdDSA} {
		b.Run(alg, func(b *testing.B) {
			m := ms[alg]
			b.ReportAllocs()
			for b.Loop() {
				if _, err := m.Sign(benchPayload); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkVerify(b *testing.B) {
	_, ms := allAlgorithms(b)
	for _, alg := range []string{ES256, RS256, EdDSA} {
		b.Run(alg, func(b *testing.B) {
			tok := mustSign(b, ms[alg], string(benchPayload))
			m := ms[ES256] // any manager verifies every published key
			b.ReportAllocs()
			for b.Loop() {
				if _, err := m.Verify(tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkVerifyReject is the cost of turning away garbage (an unknown kid),
// which must not reach the signature check.
func BenchmarkVerifyReject(b *testing.B) {
	_, ms := allAlgorithms(b)
	m := ms[ES256]
	tok := forge(b, header(ES256, "unknown", "at+jwt"), benchPayload, "none", nil) + "AAAA"
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Verify(tok); err == nil {
			b.Fatal("accepted")
		}
	}
}

func BenchmarkJWKS(b *testing.B) {
	_, ms := allAlgorithms(b)
	m := ms[ES256]
	b.ReportAllocs()
	for b.Loop() {
		if body, _ := m.JWKS(); len(body) == 0 {
			b.Fatal("empty")
		}
	}
}
