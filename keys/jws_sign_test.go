package keys

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"math/big"
	"testing"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jws"
	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"

	"github.com/tokenserver/tokenserver/store"
)

// TestSignVerifiesWithJWX checks our signatures with an independent
// implementation: ES256 and EdDSA are signed with the standard library
// directly, so jwx's verifier is the second opinion on the encoding.
func TestSignVerifiesWithJWX(t *testing.T) {
	_, ms := allAlgorithms(t)
	for _, alg := range []string{ES256, RS256, EdDSA} {
		t.Run(alg, func(t *testing.T) {
			m := ms[alg]
			pub := keyOf(t, m, alg, store.KeyCurrent).Signer.Public()
			jalg, ok := jwa.LookupSignatureAlgorithm(alg)
			if !ok {
				t.Fatal(alg)
			}
			// Many signatures, so that R or S with leading zero bytes
			// (1 in 128 per value) is among them.
			for i := range 300 {
				payload := []byte(`{"sub":"u1","n":` + string(rune('0'+i%10)) + `}`)
				tok := mustSign(t, m, string(payload))
				got, err := jws.Verify([]byte(tok), jws.WithKey(jalg, pub))
				if err != nil {
					t.Fatalf("jwx refuses token %d: %v", i, err)
				}
				if !bytes.Equal(got, payload) {
					t.Fatalf("payload %q", got)
				}
				if alg == RS256 {
					break // signed by jwx itself
				}
			}
		})
	}
}

func derSig(r, s *big.Int) []byte {
	var b cryptobyte.Builder
	b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1BigInt(r)
		b.AddASN1BigInt(s)
	})
	return b.BytesOrPanic()
}

func TestECDSARawSignature(t *testing.T) {
	n := elliptic.P256().Params().N
	big1 := big.NewInt(1)
	high := new(big.Int).Sub(n, big1) // 32 bytes, high bit set: DER adds a 0x00
	want := func(r, s *big.Int) []byte {
		out := make([]byte, 64)
		r.FillBytes(out[:32])
		s.FillBytes(out[32:])
		return out
	}
	for _, tc := range []struct {
		name string
		r, s *big.Int
	}{
		{"small R", big1, high},
		{"small S", high, big.NewInt(0x1234)},
		{"both full", high, high},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ecdsaRawSignature(derSig(tc.r, tc.s), 32)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want(tc.r, tc.s)) {
				t.Fatalf("got %x", got)
			}
		})
	}
	tooBig := new(big.Int).Lsh(big1, 264)
	valid := derSig(big1, big1)
	for _, tc := range []struct {
		name string
		der  []byte
	}{
		{"empty", nil},
		{"trailing data", append(append([]byte{}, valid...), 0)},
		{"one integer", func() []byte {
			var b cryptobyte.Builder
			b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) { b.AddASN1BigInt(big1) })
			return b.BytesOrPanic()
		}()},
		{"R longer than the curve", derSig(tooBig, big1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ecdsaRawSignature(tc.der, 32); err == nil {
				t.Fatal("accepted")
			}
		})
	}
	// And the real thing: a stdlib signature converts to one the stdlib
	// verifies in the JWS form.
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256([]byte("x"))
	der, err := ecdsa.SignASN1(rand.Reader, key, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	raw, err := ecdsaRawSignature(der, 32)
	if err != nil {
		t.Fatal(err)
	}
	r, s := new(big.Int).SetBytes(raw[:32]), new(big.Int).SetBytes(raw[32:])
	if !ecdsa.Verify(&key.PublicKey, digest[:], r, s) {
		t.Fatal("converted signature does not verify")
	}
}
