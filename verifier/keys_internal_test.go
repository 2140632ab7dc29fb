package verifier

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"strings"
	"testing"

	"github.com/lestrrat-go/jwx/v3/jwk"
)

// jwkJSON returns key's JWK with the given extra fields ("" values omitted).
func jwkJSON(t *testing.T, key any, fields map[string]string) json.RawMessage {
	t.Helper()
	k, err := jwk.Import(key)
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range fields {
		if v != "" {
			if err := k.Set(name, v); err != nil {
				t.Fatal(err)
			}
		}
	}
	b, err := json.Marshal(k)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseJWKSPinsOneAlgorithmPerKey(t *testing.T) {
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	rsa2048, _ := rsa.GenerateKey(rand.Reader, 2048)
	edPub, edPriv, _ := ed25519.GenerateKey(rand.Reader)

	tests := []struct {
		name    string
		key     any
		fields  map[string]string
		wantAlg string // "" means the key is skipped
		wantWhy string
	}{
		{"EC P-256 with alg", p256.Public(), map[string]string{"alg": "ES256"}, "ES256", ""},
		{"EC P-256 without alg", p256.Public(), nil, "ES256", ""},
		{"EC P-384 without alg", p384.Public(), nil, "ES384", ""},
		{"EC P-256 claiming ES384", p256.Public(), map[string]string{"alg": "ES384"}, "", "does not suit"},
		{"EC claiming HS256", p256.Public(), map[string]string{"alg": "HS256"}, "", "does not suit"},
		{"RSA without alg", rsa2048.Public(), nil, "RS256", ""},
		{"RSA with PS256", rsa2048.Public(), map[string]string{"alg": "PS256"}, "PS256", ""},
		{"RSA claiming ES256", rsa2048.Public(), map[string]string{"alg": "ES256"}, "", "does not suit"},
		{"Ed25519", edPub, nil, "EdDSA", ""},
		{"private key published", crypto.Signer(edPriv), nil, "", "compromised"},
		{"private EC key published", p256, nil, "", "compromised"},
		{"encryption key", p256.Public(), map[string]string{"use": "enc"}, "", "not sig"},
		{"symmetric key", []byte("0123456789abcdef0123456789abcdef"), map[string]string{"alg": "HS256"}, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fields := map[string]string{"kid": "k"}
			for k, v := range tc.fields {
				fields[k] = v
			}
			body, _ := json.Marshal(map[string]any{"keys": []json.RawMessage{jwkJSON(t, tc.key, fields)}})
			ks, skipped, err := parseJWKS(body)
			if tc.wantAlg == "" {
				if err == nil {
					t.Fatalf("key accepted as %s, want skipped", ks.byKID["k"].algName)
				}
				if tc.wantWhy != "" && !strings.Contains(err.Error(), tc.wantWhy) {
					t.Fatalf("err = %v, want %q", err, tc.wantWhy)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseJWKS: %v (skipped %v)", err, skipped)
			}
			if got := ks.byKID["k"].algName; got != tc.wantAlg {
				t.Fatalf("alg = %q, want %q", got, tc.wantAlg)
			}
		})
	}
}

func TestParseJWKSSkipsAmbiguousKids(t *testing.T) {
	a, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	b, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	c, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	body, _ := json.Marshal(map[string]any{"keys": []json.RawMessage{
		jwkJSON(t, a.Public(), map[string]string{"kid": "dup"}),
		jwkJSON(t, b.Public(), map[string]string{"kid": "dup"}),
		jwkJSON(t, c.Public(), map[string]string{"kid": "ok"}),
		jwkJSON(t, c.Public(), nil), // no kid
	}})
	ks, skipped, err := parseJWKS(body)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := ks.byKID["dup"]; ok || len(ks.byKID) != 1 || len(skipped) != 2 {
		t.Fatalf("keys %v, skipped %v: want only \"ok\"", ks.byKID, skipped)
	}
}
