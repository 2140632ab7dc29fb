package dpop

import (
	"crypto"
	"crypto/ecdsa"
	"errors"
	"math/big"
	"strings"
	"testing"
)

func TestParseValid(t *testing.T) {
	for _, tc := range []struct {
		name string
		key  crypto.Signer
		alg  string
	}{
		{"ES256", newECKey(t), ""},
		{"EdDSA", newEdKey(t), ""},
		{"PS256", newRSAKey(t), ""},
		{"RS256", newRSAKey(t), "RS256"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			proof := mustProof(t, tc.key, tc.alg, ProofClaims{ID: "abc", Nonce: "n1", AccessToken: "tok"})
			p, err := Parse(proof)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			jkt, err := Thumbprint(tc.key.Public())
			if err != nil {
				t.Fatal(err)
			}
			want := Proof{Algorithm: tc.name, JKT: jkt, ID: "abc", Method: "POST", URL: testURL,
				IssuedAt: testNow, AccessTokenHash: AccessTokenHash("tok"), Nonce: "n1"}
			if *p != want {
				t.Errorf("Parse = %+v\nwant    %+v", *p, want)
			}
		})
	}
}

// RFC 7638 §3.1's example key and thumbprint.
func TestThumbprintRFC7638(t *testing.T) {
	n := "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
	raw := []byte(`{"kty":"RSA","n":"` + n + `","e":"AQAB","alg":"RS256","kid":"2011-04-29"}`)
	k, err := parseJWK(raw, "RS256")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := k.thumbprint(), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"; got != want {
		t.Errorf("thumbprint = %s, want %s", got, want)
	}
	if got, err := Thumbprint(k.key); err != nil || got != "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs" {
		t.Errorf("Thumbprint(key) = %s, %v", got, err)
	}
}

// Every proof §4.3 says to refuse, refused by Parse with ErrInvalidProof.
func TestParseRefuses(t *testing.T) {
	ec, other := newECKey(t), newECKey(t)
	rsaKey := newRSAKey(t)
	hdr := func(mod func(map[string]any)) map[string]any {
		h := map[string]any{"typ": "dpop+jwt", "alg": "ES256", "jwk": jwkOf(t, ec.Public())}
		if mod != nil {
			mod(h)
		}
		return h
	}
	claims := func(mod func(map[string]any)) map[string]any {
		c := validClaims()
		if mod != nil {
			mod(c)
		}
		return c
	}
	withPrivate := func(member string) func(map[string]any) {
		return func(h map[string]any) {
			j := jwkOf(t, ec.Public())
			j[member] = b64.EncodeToString(ec.D.Bytes())
			h["jwk"] = j
		}
	}
	valid := rawProof(t, hdr(nil), claims(nil), "ES256", ec)
	if _, err := Parse(valid); err != nil {
		t.Fatalf("the base proof does not parse: %v", err)
	}
	for _, tc := range []struct {
		name, proof string
	}{
		{"Empty", ""},
		{"TwoParts", strings.Join(strings.Split(valid, ".")[:2], ".")},
		{"FourParts", valid + ".x"},
		{"TooLong", valid + strings.Repeat("A", MaxProofSize)},
		{"SignedByAnotherKey", rawProof(t, hdr(nil), claims(nil), "ES256", other)},
		{"TamperedPayload", strings.Split(valid, ".")[0] + "." + b64.EncodeToString([]byte(`{"jti":"x","htm":"POST","htu":"`+testURL+`","iat":1800000000}`)) + "." + strings.Split(valid, ".")[2]},
		{"AlgNone", rawProof(t, hdr(func(h map[string]any) { h["alg"] = "none" }), claims(nil), "none", nil)},
		{"HS256", rawProof(t, hdr(func(h map[string]any) { h["alg"] = "HS256"; h["jwk"] = map[string]any{"kty": "oct", "k": "c2VjcmV0"} }), claims(nil), "HS256", []byte("secret"))},
		{"HS256WithECJWK", rawProof(t, hdr(func(h map[string]any) { h["alg"] = "HS256" }), claims(nil), "HS256", []byte("secret"))},
		{"ES384", rawProof(t, hdr(func(h map[string]any) { h["alg"] = "ES384" }), claims(nil), "ES256", ec)},
		{"PrivateD", rawProof(t, hdr(withPrivate("d")), claims(nil), "ES256", ec)},
		{"PrivateP", rawProof(t, hdr(withPrivate("p")), claims(nil), "ES256", ec)},
		{"PrivateK", rawProof(t, hdr(withPrivate("k")), claims(nil), "ES256", ec)},
		{"PrivateQI", rawProof(t, hdr(withPrivate("qi")), claims(nil), "ES256", ec)},
		{"RSAPrivate", rawProof(t, map[string]any{"typ": "dpop+jwt", "alg": "PS256", "jwk": func() map[string]any {
			j := jwkOf(t, rsaKey.Public())
			j["d"] = b64.EncodeToString(rsaKey.D.Bytes())
			return j
		}()}, claims(nil), "PS256", rsaKey)},
		{"NoJWK", rawProof(t, hdr(func(h map[string]any) { delete(h, "jwk") }), claims(nil), "ES256", ec)},
		{"JWKNotObject", rawProof(t, hdr(func(h map[string]any) { h["jwk"] = "x" }), claims(nil), "ES256", ec)},
		{"JWKWrongKty", rawProof(t, hdr(func(h map[string]any) { h["jwk"] = jwkOf(t, rsaKey.Public()) }), claims(nil), "ES256", ec)},
		{"JWKWrongCurve", rawProof(t, hdr(func(h map[string]any) { j := jwkOf(t, ec.Public()); j["crv"] = "P-384"; h["jwk"] = j }), claims(nil), "ES256", ec)},
		{"JWKNotOnCurve", rawProof(t, hdr(func(h map[string]any) {
			j := jwkOf(t, ec.Public())
			y := new(big.Int).Add(ec.Y, big.NewInt(1))
			j["y"] = b64.EncodeToString(y.FillBytes(make([]byte, 32)))
			h["jwk"] = j
		}), claims(nil), "ES256", ec)},
		{"TypMissing", rawProof(t, hdr(func(h map[string]any) { delete(h, "typ") }), claims(nil), "ES256", ec)},
		{"TypJWT", rawProof(t, hdr(func(h map[string]any) { h["typ"] = "JWT" }), claims(nil), "ES256", ec)},
		{"Crit", rawProof(t, hdr(func(h map[string]any) { h["crit"] = []string{"x"}; h["x"] = 1 }), claims(nil), "ES256", ec)},
		{"NoJTI", rawProof(t, hdr(nil), claims(func(c map[string]any) { delete(c, "jti") }), "ES256", ec)},
		{"LongJTI", rawProof(t, hdr(nil), claims(func(c map[string]any) { c["jti"] = strings.Repeat("j", MaxJTILen+1) }), "ES256", ec)},
		{"NoHTM", rawProof(t, hdr(nil), claims(func(c map[string]any) { delete(c, "htm") }), "ES256", ec)},
		{"NoHTU", rawProof(t, hdr(nil), claims(func(c map[string]any) { delete(c, "htu") }), "ES256", ec)},
		{"NoIAT", rawProof(t, hdr(nil), claims(func(c map[string]any) { delete(c, "iat") }), "ES256", ec)},
		{"IATString", rawProof(t, hdr(nil), claims(func(c map[string]any) { c["iat"] = "1800000000" }), "ES256", ec)},
		{"HTMNumber", rawProof(t, hdr(nil), claims(func(c map[string]any) { c["htm"] = 1 }), "ES256", ec)},
		{"UppercaseClaimName", rawProof(t, hdr(nil), claims(func(c map[string]any) { c["HTM"] = c["htm"]; delete(c, "htm") }), "ES256", ec)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Parse(tc.proof)
			if !errors.Is(err, ErrInvalidProof) {
				t.Fatalf("Parse = %+v, %v; want ErrInvalidProof", p, err)
			}
		})
	}
}

func TestParseAlgorithmsNarrow(t *testing.T) {
	proof := mustProof(t, newEdKey(t), "", ProofClaims{})
	if _, err := Parse(proof, "ES256"); !errors.Is(err, ErrInvalidProof) {
		t.Errorf("Parse(EdDSA proof, ES256 only) = %v, want ErrInvalidProof", err)
	}
	if _, err := Parse(proof, "ES256", "EdDSA"); err != nil {
		t.Errorf("Parse(EdDSA proof, ES256+EdDSA) = %v", err)
	}
}

func TestNewProofRefusesMismatchedAlg(t *testing.T) {
	if _, err := NewProof(newECKey(t), "PS256", ProofClaims{Method: "POST", URL: testURL}); err == nil {
		t.Error("NewProof(EC key, PS256) = nil error")
	}
	var k *ecdsa.PrivateKey = newECKey(t)
	if _, err := NewProof(k, "HS256", ProofClaims{Method: "POST", URL: testURL}); err == nil {
		t.Error("NewProof(HS256) = nil error")
	}
}
