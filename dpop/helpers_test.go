package dpop

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jws"
)

const testURL = "https://as.example.com/token"

// testNow is the fixed clock of these tests.
var testNow = time.Unix(1_800_000_000, 0)

func testClock() time.Time { return testNow }

func newECKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newEdKey(t testing.TB) ed25519.PrivateKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newRSAKey(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// mustProof makes a valid proof for POST testURL at testNow.
func mustProof(t testing.TB, key crypto.Signer, alg string, c ProofClaims) string {
	t.Helper()
	if c.Method == "" {
		c.Method = "POST"
	}
	if c.URL == "" {
		c.URL = testURL
	}
	if c.IssuedAt.IsZero() {
		c.IssuedAt = testNow
	}
	p, err := NewProof(key, alg, c)
	if err != nil {
		t.Fatalf("NewProof: %v", err)
	}
	return p
}

// rawProof assembles a proof from a header and claims of our choosing,
// signed by key with alg ("none": no signature; HS256: key is []byte).
func rawProof(t testing.TB, hdr, claims map[string]any, alg string, key any) string {
	t.Helper()
	h, err := json.Marshal(hdr)
	if err != nil {
		t.Fatal(err)
	}
	p, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	input := b64.EncodeToString(h) + "." + b64.EncodeToString(p)
	switch alg {
	case "none":
		return input + "."
	case "HS256":
		m := hmac.New(sha256.New, key.([]byte))
		m.Write([]byte(input))
		return input + "." + b64.EncodeToString(m.Sum(nil))
	}
	jalg, _ := jwa.LookupSignatureAlgorithm(alg)
	signer, err := jws.SignerFor(jalg)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := signer.Sign(key, []byte(input))
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + b64.EncodeToString(sig)
}

// jwkOf returns the public JWK members of key as a map.
func jwkOf(t testing.TB, pub crypto.PublicKey) map[string]any {
	t.Helper()
	k, _, err := publicJWK(pub)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(k.canonical, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func validClaims() map[string]any {
	return map[string]any{"jti": "jti-1", "htm": "POST", "htu": testURL, "iat": testNow.Unix()}
}
