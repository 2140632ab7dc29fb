// Package dpoptest forges DPoP proofs for tests: valid ones with keys made
// here, and the malformed or hostile ones (alg none, HMAC, a private key in
// the jwk, a signature by another key) that dpop.NewProof refuses to make.
// Used by the token server's and the verifier's tests.
package dpoptest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jws"

	"github.com/tokenserver/tokenserver/dpop"
)

var b64 = base64.RawURLEncoding

// NewKey returns a fresh P-256 key.
func NewKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// Proof makes a valid proof by key with dpop.NewProof.
func Proof(t testing.TB, key crypto.Signer, c dpop.ProofClaims) string {
	t.Helper()
	p, err := dpop.NewProof(key, "", c)
	if err != nil {
		t.Fatalf("dpop.NewProof: %v", err)
	}
	return p
}

// JKT returns key's thumbprint.
func JKT(t testing.TB, key crypto.Signer) string {
	t.Helper()
	jkt, err := dpop.Thumbprint(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	return jkt
}

// PublicJWK returns the jwk header member dpop.NewProof writes for key.
func PublicJWK(t testing.TB, key crypto.Signer) map[string]any {
	t.Helper()
	p := Proof(t, key, dpop.ProofClaims{Method: "POST", URL: "https://x.example/"})
	raw, err := b64.DecodeString(strings.Split(p, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var hdr struct {
		JWK map[string]any `json:"jwk"`
	}
	if err := json.Unmarshal(raw, &hdr); err != nil {
		t.Fatal(err)
	}
	return hdr.JWK
}

// Header is a proof header for key with ES256.
func Header(t testing.TB, key *ecdsa.PrivateKey) map[string]any {
	return map[string]any{"typ": dpop.ProofType, "alg": "ES256", "jwk": PublicJWK(t, key)}
}

// Claims are valid proof claims with a random jti.
func Claims(method, url string, iat time.Time) map[string]any {
	return map[string]any{"jti": rand.Text(), "htm": method, "htu": url, "iat": iat.Unix()}
}

// Forge assembles a proof from any header and claims, signed with alg by
// key: "none" adds no signature, "HS256" takes a []byte secret, other
// algorithms a private key.
func Forge(t testing.TB, header, claims map[string]any, alg string, key any) string {
	t.Helper()
	h, err := json.Marshal(header)
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
	jalg, ok := jwa.LookupSignatureAlgorithm(alg)
	if !ok {
		t.Fatalf("unknown alg %q", alg)
	}
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
