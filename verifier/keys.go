package verifier

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"errors"
	"fmt"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
)

// minRSABits is the smallest RSA modulus accepted (RFC 7518 §3.3: 2048 bits
// or larger MUST be used).
const minRSABits = 2048

// algorithms are the only JWS algorithms ever accepted: asymmetric ones.
// "none" and the HMAC family are absent on purpose: with a public JWKS an
// HMAC "key" is public, and none is no signature at all (RFC 8725 §3.1).
var algorithms = map[string]jwa.SignatureAlgorithm{
	"ES256": jwa.ES256(), "ES384": jwa.ES384(), "ES512": jwa.ES512(),
	"RS256": jwa.RS256(), "RS384": jwa.RS384(), "RS512": jwa.RS512(),
	"PS256": jwa.PS256(), "PS384": jwa.PS384(), "PS512": jwa.PS512(),
	"EdDSA": jwa.EdDSA(),
}

// verifyKey is one published public key pinned to exactly one algorithm
// (RFC 8725 §3.1: each key is used with one algorithm).
type verifyKey struct {
	alg     jwa.SignatureAlgorithm
	algName string
	// public is the raw Go key: *ecdsa.PublicKey, *rsa.PublicKey or
	// ed25519.PublicKey.
	public any
}

// keySet is an immutable, parsed JWKS.
type keySet struct {
	byKID map[string]verifyKey
}

// parseJWKS turns a JWKS document into a keySet. Entries that are not
// usable signature keys (encryption keys, symmetric keys, unknown types,
// keys without kid, duplicate kids) are skipped and reported in skipped;
// a set with no usable key is an error.
func parseJWKS(body []byte) (*keySet, []error, error) {
	set, err := jwk.Parse(body, jwk.WithStrictKeySetParsing(false))
	if err != nil {
		return nil, nil, fmt.Errorf("parse JWKS: %w", err)
	}
	ks := &keySet{byKID: make(map[string]verifyKey, set.Len())}
	var skipped []error
	seen := map[string]bool{}
	for i := range set.Len() {
		k, _ := set.Key(i)
		kid, _ := k.KeyID()
		if kid == "" {
			skipped = append(skipped, fmt.Errorf("key %d: no kid", i))
			continue
		}
		if seen[kid] {
			// Two keys with one kid make the choice ambiguous: use neither.
			delete(ks.byKID, kid)
			skipped = append(skipped, fmt.Errorf("key %q: duplicate kid", kid))
			continue
		}
		seen[kid] = true
		vk, err := toVerifyKey(k)
		if err != nil {
			skipped = append(skipped, fmt.Errorf("key %q: %w", kid, err))
			continue
		}
		ks.byKID[kid] = vk
	}
	if len(ks.byKID) == 0 {
		return nil, skipped, fmt.Errorf("JWKS has no usable signature key (%w)", errors.Join(skipped...))
	}
	return ks, skipped, nil
}

// toVerifyKey extracts the public key and pins its algorithm: the JWK's
// alg when present (it must suit the key), otherwise the one algorithm the
// key type implies (RSA keys without alg are pinned to RS256).
func toVerifyKey(k jwk.Key) (verifyKey, error) {
	if _, ok := k.(jwk.UnsupportedKey); ok {
		return verifyKey{}, errors.New("unsupported key type")
	}
	if use, ok := k.KeyUsage(); ok && use != "sig" {
		return verifyKey{}, fmt.Errorf("use %q is not sig", use)
	}
	var raw any
	if err := jwk.Export(k, &raw); err != nil {
		return verifyKey{}, fmt.Errorf("export: %w", err)
	}
	public, implied, err := publicKeyAlg(raw)
	if err != nil {
		return verifyKey{}, err
	}
	name := implied
	if a, ok := k.Algorithm(); ok && a.String() != "" {
		name = a.String()
		if !compatible(name, public) {
			return verifyKey{}, fmt.Errorf("alg %q does not suit a %T", name, public)
		}
	}
	alg, ok := algorithms[name]
	if !ok {
		return verifyKey{}, fmt.Errorf("alg %q is not an accepted signature algorithm", name)
	}
	return verifyKey{alg: alg, algName: name, public: public}, nil
}

// publicKeyAlg returns the public half of raw and the algorithm its type
// implies.
func publicKeyAlg(raw any) (any, string, error) {
	switch key := raw.(type) {
	case *ecdsa.PrivateKey, *rsa.PrivateKey, ed25519.PrivateKey:
		// Whoever fetched this JWKS can sign with the key: it is
		// compromised, so trusting it would accept forged tokens.
		return nil, "", errors.New("private key published in the JWKS; refusing a compromised key")
	case *ecdsa.PublicKey:
		switch key.Curve {
		case elliptic.P256():
			return key, "ES256", nil
		case elliptic.P384():
			return key, "ES384", nil
		case elliptic.P521():
			return key, "ES512", nil
		}
		return nil, "", fmt.Errorf("unsupported curve %s", key.Curve.Params().Name)
	case *rsa.PublicKey:
		if key.N.BitLen() < minRSABits {
			return nil, "", fmt.Errorf("RSA key of %d bits is below %d", key.N.BitLen(), minRSABits)
		}
		return key, "RS256", nil
	case ed25519.PublicKey:
		return key, "EdDSA", nil
	}
	return nil, "", fmt.Errorf("unsupported key type %T", raw)
}

// compatible reports whether the algorithm name can be used with the key.
func compatible(alg string, public any) bool {
	switch key := public.(type) {
	case *ecdsa.PublicKey:
		_, implied, _ := publicKeyAlg(key)
		return alg == implied // the curve fixes the ES variant
	case *rsa.PublicKey:
		switch alg {
		case "RS256", "RS384", "RS512", "PS256", "PS384", "PS512":
			return true
		}
	case ed25519.PublicKey:
		return alg == "EdDSA"
	}
	return false
}
