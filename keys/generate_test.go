package keys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"
)

func TestGenerate(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		alg, want string
		check     func(t *testing.T, s crypto.Signer)
	}{
		{"", ES256, func(t *testing.T, s crypto.Signer) {
			if k, ok := s.(*ecdsa.PrivateKey); !ok || k.Curve != elliptic.P256() {
				t.Fatalf("default key is %T, want P-256 ECDSA", s)
			}
		}},
		{ES256, ES256, func(t *testing.T, s crypto.Signer) {
			if k, ok := s.(*ecdsa.PrivateKey); !ok || k.Curve != elliptic.P256() {
				t.Fatalf("got %T, want P-256 ECDSA", s)
			}
		}},
		{RS256, RS256, func(t *testing.T, s crypto.Signer) {
			if k, ok := s.(*rsa.PrivateKey); !ok || k.N.BitLen() < 2048 {
				t.Fatalf("got %T, want RSA >= 2048 bits", s)
			}
		}},
		{EdDSA, EdDSA, func(t *testing.T, s crypto.Signer) {
			if _, ok := s.(ed25519.PrivateKey); !ok {
				t.Fatalf("got %T, want Ed25519", s)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.want+"/"+tt.alg, func(t *testing.T) {
			k, err := Generate(tt.alg, now)
			if err != nil {
				t.Fatal(err)
			}
			if k.Algorithm != tt.want || !k.CreatedAt.Equal(now) {
				t.Fatalf("Algorithm %q CreatedAt %v", k.Algorithm, k.CreatedAt)
			}
			tt.check(t, k.Signer)

			// kid is the RFC 7638 SHA-256 thumbprint of the public key.
			pub, err := jwk.Import(k.Signer.Public())
			if err != nil {
				t.Fatal(err)
			}
			thumb, err := pub.Thumbprint(crypto.SHA256)
			if err != nil {
				t.Fatal(err)
			}
			if want := base64.RawURLEncoding.EncodeToString(thumb); k.ID != want {
				t.Fatalf("ID %q, want thumbprint %q", k.ID, want)
			}
			if kid, _ := k.Public.KeyID(); kid != k.ID {
				t.Fatalf("public kid %q", kid)
			}
			if alg, _ := k.Public.Algorithm(); alg.String() != tt.want {
				t.Fatalf("public alg %v", alg)
			}
			if use, _ := k.Public.KeyUsage(); use != "sig" {
				t.Fatalf("public use %q", use)
			}
			if priv, err := jwk.IsPrivateKey(k.Public); err != nil || priv {
				t.Fatalf("Public is private (%v, %v)", priv, err)
			}

			// PKCS #8 round trip gives back the same key.
			der, err := k.PKCS8()
			if err != nil {
				t.Fatal(err)
			}
			back, err := parsePKCS8(der, k.ID, k.Algorithm, now)
			if err != nil {
				t.Fatal(err)
			}
			if back.ID != k.ID {
				t.Fatalf("round trip ID %q != %q", back.ID, k.ID)
			}
		})
	}
}

func TestGenerateDistinctKeys(t *testing.T) {
	a, err := Generate(ES256, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	b, err := Generate(ES256, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if a.ID == b.ID {
		t.Fatal("two generated keys share a kid")
	}
}

func TestGenerateRejectsUnsupported(t *testing.T) {
	for _, alg := range []string{"HS256", "none", "ES384", "PS256", "es256", "Ed25519"} {
		t.Run(alg, func(t *testing.T) {
			if _, err := Generate(alg, time.Now()); err == nil || !strings.Contains(err.Error(), "unsupported") {
				t.Fatalf("Generate(%q) error %v", alg, err)
			}
		})
	}
}

func TestParsePKCS8RejectsMismatch(t *testing.T) {
	now := time.Now()
	k, err := Generate(ES256, now)
	if err != nil {
		t.Fatal(err)
	}
	der, err := k.PKCS8()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, id, alg, want string
	}{
		{"other id", "not-the-thumbprint", ES256, "does not match"},
		{"other alg", k.ID, EdDSA, "cannot sign"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := parsePKCS8(der, tt.id, tt.alg, now); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
		})
	}
	if _, err := parsePKCS8([]byte("garbage"), k.ID, ES256, now); err == nil {
		t.Fatal("garbage DER parsed")
	}
}
