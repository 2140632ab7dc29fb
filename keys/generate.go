package keys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
)

// Signing algorithms this package supports (RFC 7518 §3.1, RFC 8037 §3.1).
const (
	ES256 = "ES256" // ECDSA P-256 with SHA-256; the default
	RS256 = "RS256" // RSASSA-PKCS1-v1_5 with SHA-256
	EdDSA = "EdDSA" // Ed25519
)

// DefaultAlgorithm signs when Config.Algorithm is empty.
const DefaultAlgorithm = ES256

// rsaBits is the size of generated RSA keys. RFC 7518 §3.3 requires at least
// 2048 bits; 3072 matches the ~128-bit strength of P-256 and Ed25519.
const rsaBits = 3072

// minRSABits is the smallest RSA key accepted from a PEM file (RFC 7518 §3.3:
// "A key of size 2048 bits or larger MUST be used").
const minRSABits = 2048

// Key is one signing key pair.
type Key struct {
	// ID is the RFC 7638 JWK thumbprint (SHA-256, base64url without
	// padding) of the public key; it is the JWS/JWK "kid".
	ID string
	// Algorithm is ES256, RS256 or EdDSA.
	Algorithm string
	// Signer is the private key (*ecdsa.PrivateKey, *rsa.PrivateKey or
	// ed25519.PrivateKey).
	Signer crypto.Signer
	// Public is the public JWK with kid, alg and use=sig set.
	Public jwk.Key
	// CreatedAt is the time passed to Generate (or the load time for PEM keys).
	CreatedAt time.Time
}

// Generate creates a fresh key for alg ("" means DefaultAlgorithm).
func Generate(alg string, now time.Time) (*Key, error) {
	if alg == "" {
		alg = DefaultAlgorithm
	}
	var (
		signer crypto.Signer
		err    error
	)
	switch alg {
	case ES256:
		signer, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case RS256:
		signer, err = rsa.GenerateKey(rand.Reader, rsaBits)
	case EdDSA:
		_, signer, err = ed25519.GenerateKey(rand.Reader)
	default:
		return nil, unsupportedAlgorithm(alg)
	}
	if err != nil {
		return nil, fmt.Errorf("keys: generate %s key: %w", alg, err)
	}
	return newKey(alg, signer, now)
}

func unsupportedAlgorithm(alg string) error {
	return fmt.Errorf("keys: unsupported signing algorithm %q (want %s, %s or %s)", alg, ES256, RS256, EdDSA)
}

// checkAlgorithm reports whether alg is one this package signs with.
func checkAlgorithm(alg string) error {
	switch alg {
	case ES256, RS256, EdDSA:
		return nil
	}
	return unsupportedAlgorithm(alg)
}

// algorithmOf infers the signing algorithm of a private key and checks that
// the key is fit for it.
func algorithmOf(signer crypto.Signer) (string, error) {
	switch k := signer.(type) {
	case *ecdsa.PrivateKey:
		// RFC 7518 §3.4: ES256 is ECDSA using P-256.
		if k.Curve != elliptic.P256() {
			return "", fmt.Errorf("keys: ECDSA key on curve %s: only P-256 (ES256) is supported", k.Curve.Params().Name)
		}
		return ES256, nil
	case *rsa.PrivateKey:
		if n := k.N.BitLen(); n < minRSABits {
			return "", fmt.Errorf("keys: RSA key of %d bits: at least %d are required (RFC 7518 §3.3)", n, minRSABits)
		}
		return RS256, nil
	case ed25519.PrivateKey:
		return EdDSA, nil
	}
	return "", fmt.Errorf("keys: unsupported private key type %T (want ECDSA P-256, RSA or Ed25519)", signer)
}

// newKey wraps a private key, checking that it matches alg.
func newKey(alg string, signer crypto.Signer, now time.Time) (*Key, error) {
	got, err := algorithmOf(signer)
	if err != nil {
		return nil, err
	}
	if got != alg {
		return nil, fmt.Errorf("keys: a %s key cannot sign %s", got, alg)
	}
	jalg, ok := jwa.LookupSignatureAlgorithm(alg)
	if !ok {
		return nil, unsupportedAlgorithm(alg)
	}
	pub, err := jwk.Import(signer.Public())
	if err != nil {
		return nil, fmt.Errorf("keys: import public key: %w", err)
	}
	thumb, err := pub.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("keys: thumbprint: %w", err)
	}
	kid := base64.RawURLEncoding.EncodeToString(thumb)
	for _, f := range []struct {
		name  string
		value any
	}{
		{jwk.KeyIDKey, kid},
		{jwk.AlgorithmKey, jalg},
		{jwk.KeyUsageKey, jwk.ForSignature},
	} {
		if err := pub.Set(f.name, f.value); err != nil {
			return nil, fmt.Errorf("keys: set %s on public key: %w", f.name, err)
		}
	}
	return &Key{ID: kid, Algorithm: alg, Signer: signer, Public: pub, CreatedAt: now}, nil
}

// PKCS8 returns the private key in PKCS #8 DER form, for sealing. The caller
// should clear the slice when done with it.
func (k *Key) PKCS8() ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k.Signer)
	if err != nil {
		return nil, fmt.Errorf("keys: marshal private key %s: %w", k.ID, err)
	}
	return der, nil
}

// PublicJSON returns the public JWK as JSON (RFC 7517 §4). jwx writes the
// members in sorted order, so equal keys give equal bytes on every instance.
func (k *Key) PublicJSON() ([]byte, error) {
	b, err := json.Marshal(k.Public)
	if err != nil {
		return nil, fmt.Errorf("keys: marshal public key %s: %w", k.ID, err)
	}
	return b, nil
}

// parsePKCS8 is the inverse of PKCS8: it parses a sealed key's plain text and
// checks that it is the key the store says it is.
func parsePKCS8(der []byte, wantID, wantAlg string, created time.Time) (*Key, error) {
	raw, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("keys: key %s: parse private key: %w", wantID, err)
	}
	signer, ok := raw.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("keys: key %s: unsupported private key type %T", wantID, raw)
	}
	k, err := newKey(wantAlg, signer, created)
	if err != nil {
		return nil, fmt.Errorf("keys: key %s: %w", wantID, err)
	}
	if k.ID != wantID {
		return nil, fmt.Errorf("keys: key %s: stored id does not match the key's thumbprint %s", wantID, k.ID)
	}
	return k, nil
}
