package keys

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"math/big"
	"strings"
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

// TestVerifyES256SignatureValues feeds Verify R and S values outside
// 0 < v < n, which a DER conversion could let through or mangle.
func TestVerifyES256SignatureValues(t *testing.T) {
	_, ms := allAlgorithms(t)
	m := ms[ES256]
	ec := keyOf(t, m, ES256, store.KeyCurrent)
	valid := mustSign(t, m, `{"sub":"u1"}`)
	dot := strings.LastIndexByte(valid, '.')
	input, sig := valid[:dot], valid[dot+1:]
	raw, err := b64.DecodeString(sig)
	if err != nil {
		t.Fatal(err)
	}
	n := elliptic.P256().Params().N
	r, s := new(big.Int).SetBytes(raw[:32]), new(big.Int).SetBytes(raw[32:])
	with := func(r, s *big.Int) string {
		out := make([]byte, 64)
		r.FillBytes(out[:32])
		s.FillBytes(out[32:])
		return input + "." + b64.EncodeToString(out)
	}
	negS := new(big.Int).Sub(n, s) // (R, n-S) is the other valid ECDSA signature, but only as n-S itself
	for _, tc := range []struct {
		name  string
		token string
	}{
		{"R zero", with(new(big.Int), s)},
		{"S zero", with(r, new(big.Int))},
		{"R = n", with(n, s)},
		{"S + n overflows", input + "." + b64.EncodeToString(append(append([]byte{}, raw[:32]...), new(big.Int).Add(s, n).Bytes()...))},
		{"65 bytes, leading zero", input + "." + b64.EncodeToString(append([]byte{0}, raw...))},
		{"63 bytes", input + "." + b64.EncodeToString(raw[1:])},
		{"R and S swapped", with(s, r)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := m.Verify(tc.token); !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("Verify = %v, want ErrInvalidToken", err)
			}
		})
	}
	// ECDSA signatures are malleable: (R, n-S) verifies as well. It must
	// go through the same way jwx's verifier takes it.
	if _, err := m.Verify(with(r, negS)); err != nil {
		t.Fatalf("(R, n-S) refused: %v", err)
	}
	// A token signed by jwx (independent signer) verifies.
	forged := forge(t, header(ES256, ec.ID, "at+jwt"), []byte(`{"sub":"u2"}`), ES256, ec.Signer)
	if _, err := m.Verify(forged); err != nil {
		t.Fatalf("jwx-signed token refused: %v", err)
	}
}

func TestECDSADERSignatureRoundTrip(t *testing.T) {
	for _, raw := range [][]byte{
		bytes.Repeat([]byte{0xff}, 64),
		append(make([]byte, 31), append([]byte{1}, bytes.Repeat([]byte{0x7f}, 32)...)...),
		append(bytes.Repeat([]byte{0x80}, 32), make([]byte, 32)...),
	} {
		der := ecdsaDERSignature(raw[:32], raw[32:])
		got, err := ecdsaRawSignature(der, 32)
		if err != nil {
			t.Fatalf("%x: %v", raw, err)
		}
		if !bytes.Equal(got, raw) {
			t.Fatalf("round trip %x -> %x", raw, got)
		}
	}
}
