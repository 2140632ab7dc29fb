package dpop

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"math/big"
)

// RSA moduli outside these bounds are refused: small ones are weak, and huge
// ones make each verification cost what the client chooses.
const (
	minRSABits = 2048
	maxRSABits = 8192
)

// privateMembers are the JWK members holding private or symmetric key
// material (RFC 7518 §6.2.2, §6.3.2, §6.4; RFC 8037 §2). A proof's jwk MUST
// NOT contain a private key (RFC 9449 §4.3 check 7).
var privateMembers = [...]string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"}

// publicKey is a proof's jwk, parsed and checked.
type publicKey struct {
	key crypto.PublicKey
	// canonical is the RFC 7638 §3.2 JSON of the required members in
	// lexicographic order; its SHA-256 is the thumbprint.
	canonical []byte
}

// parseJWK decodes the jwk header member for algorithm alg. The key type
// and curve must match alg, members are exact (names are case-sensitive) and
// base64url values canonical, so one key has one accepted form and one
// thumbprint.
func parseJWK(raw json.RawMessage, alg string) (*publicKey, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return nil, invalid("jwk is not a JSON object")
	}
	for _, name := range privateMembers {
		if _, ok := m[name]; ok {
			return nil, invalid("jwk holds private key member %q", name)
		}
	}
	kty, err := member(m, "kty")
	if err != nil {
		return nil, err
	}
	switch alg {
	case "ES256":
		return parseEC(m, kty)
	case "EdDSA":
		return parseOKP(m, kty)
	case "RS256", "PS256":
		return parseRSA(m, kty)
	}
	return nil, invalid("alg %q not supported", clip(alg))
}

func parseEC(m map[string]json.RawMessage, kty string) (*publicKey, error) {
	if kty != "EC" {
		return nil, invalid("jwk kty %q does not fit ES256", clip(kty))
	}
	crv, err := member(m, "crv")
	if err != nil {
		return nil, err
	}
	if crv != "P-256" {
		return nil, invalid("jwk crv %q does not fit ES256", clip(crv))
	}
	x, xs, err := bytesMember(m, "x", 32)
	if err != nil {
		return nil, err
	}
	y, ys, err := bytesMember(m, "y", 32)
	if err != nil {
		return nil, err
	}
	// ParseUncompressedPublicKey refuses points not on the curve.
	point := append(append([]byte{4}, x...), y...)
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), point)
	if err != nil {
		return nil, invalid("jwk is not a P-256 public key")
	}
	return &publicKey{key: pub, canonical: canonical("crv", crv, "kty", kty, "x", xs, "y", ys)}, nil
}

func parseOKP(m map[string]json.RawMessage, kty string) (*publicKey, error) {
	if kty != "OKP" {
		return nil, invalid("jwk kty %q does not fit EdDSA", clip(kty))
	}
	crv, err := member(m, "crv")
	if err != nil {
		return nil, err
	}
	if crv != "Ed25519" {
		return nil, invalid("jwk crv %q not supported for EdDSA", clip(crv))
	}
	x, xs, err := bytesMember(m, "x", ed25519.PublicKeySize)
	if err != nil {
		return nil, err
	}
	return &publicKey{key: ed25519.PublicKey(x), canonical: canonical("crv", crv, "kty", kty, "x", xs)}, nil
}

func parseRSA(m map[string]json.RawMessage, kty string) (*publicKey, error) {
	if kty != "RSA" {
		return nil, invalid("jwk kty %q does not fit RSA", clip(kty))
	}
	n, ns, err := bytesMember(m, "n", 0)
	if err != nil {
		return nil, err
	}
	e, es, err := bytesMember(m, "e", 0)
	if err != nil {
		return nil, err
	}
	// RFC 7518 §6.3.1: minimum octets, so no leading zero.
	if n[0] == 0 || e[0] == 0 {
		return nil, invalid("jwk n or e has a leading zero octet")
	}
	if bits := len(n) * 8; bits < minRSABits || bits > maxRSABits {
		return nil, invalid("jwk RSA modulus of about %d bits, want %d to %d", bits, minRSABits, maxRSABits)
	}
	if len(e) > 4 {
		return nil, invalid("jwk RSA exponent too large")
	}
	var exp int
	for _, b := range e {
		exp = exp<<8 | int(b)
	}
	if exp < 3 || exp%2 == 0 || exp > 1<<31-1 {
		return nil, invalid("jwk RSA exponent %d not accepted", exp)
	}
	pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: exp}
	return &publicKey{key: pub, canonical: canonical("e", es, "kty", kty, "n", ns)}, nil
}

// member reads a required string member.
func member(m map[string]json.RawMessage, name string) (string, error) {
	v, ok := m[name]
	if !ok || string(v) == "null" {
		return "", invalid("jwk has no %q", name)
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return "", invalid("jwk %q is not a string", name)
	}
	return s, nil
}

// bytesMember reads a required base64url member; size > 0 demands exactly
// that many octets, otherwise at least one.
func bytesMember(m map[string]json.RawMessage, name string, size int) ([]byte, string, error) {
	s, err := member(m, name)
	if err != nil {
		return nil, "", err
	}
	b, err := decodeSegment(s)
	if err != nil {
		return nil, "", invalid("jwk %q is not base64url", name)
	}
	if (size > 0 && len(b) != size) || len(b) == 0 {
		return nil, "", invalid("jwk %q is %d octets", name, len(b))
	}
	return b, s, nil
}

// canonical writes RFC 7638 §3.3 JSON: members given in lexicographic order,
// no whitespace. Values are base64url or fixed names, never needing escapes,
// but are encoded by encoding/json anyway.
func canonical(kv ...string) []byte {
	buf := []byte{'{'}
	for i := 0; i < len(kv); i += 2 {
		if i > 0 {
			buf = append(buf, ',')
		}
		k, _ := json.Marshal(kv[i])
		v, _ := json.Marshal(kv[i+1])
		buf = append(append(append(buf, k...), ':'), v...)
	}
	return append(buf, '}')
}

func (k *publicKey) thumbprint() string {
	sum := sha256.Sum256(k.canonical)
	return b64.EncodeToString(sum[:])
}

// publicJWK returns the jwk of a public key (its required members only, as
// the thumbprint hashes them) and the default proof algorithm for it.
func publicJWK(pub crypto.PublicKey) (*publicKey, string, error) {
	switch p := pub.(type) {
	case *ecdsa.PublicKey:
		if p.Curve != elliptic.P256() {
			return nil, "", fmt.Errorf("dpop: ECDSA curve %s not supported (want P-256)", p.Curve.Params().Name)
		}
		raw, err := p.Bytes()
		if err != nil {
			return nil, "", fmt.Errorf("dpop: encode P-256 key: %w", err)
		}
		xs, ys := b64.EncodeToString(raw[1:33]), b64.EncodeToString(raw[33:])
		return &publicKey{key: p, canonical: canonical("crv", "P-256", "kty", "EC", "x", xs, "y", ys)}, "ES256", nil
	case ed25519.PublicKey:
		xs := b64.EncodeToString(p)
		return &publicKey{key: p, canonical: canonical("crv", "Ed25519", "kty", "OKP", "x", xs)}, "EdDSA", nil
	case *rsa.PublicKey:
		e := big.NewInt(int64(p.E)).Bytes()
		return &publicKey{key: p, canonical: canonical("e", b64.EncodeToString(e), "kty", "RSA", "n", b64.EncodeToString(p.N.Bytes()))}, "PS256", nil
	}
	return nil, "", fmt.Errorf("dpop: key type %T not supported", pub)
}

// Thumbprint returns the RFC 7638 JWK SHA-256 thumbprint (base64url) of a
// P-256, Ed25519 or RSA public key: the value of cnf.jkt in tokens bound
// to it (RFC 9449 §6.1).
func Thumbprint(pub crypto.PublicKey) (string, error) {
	k, _, err := publicJWK(pub)
	if err != nil {
		return "", err
	}
	return k.thumbprint(), nil
}
