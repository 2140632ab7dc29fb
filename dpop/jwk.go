package dpop

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
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

// jwkMembers are the raw values of the jwk members parseJWK reads (nil
// when absent).
type jwkMembers struct {
	kty, crv, x, y, n, e []byte
	// private is the first private member present, "" if none.
	private string
}

// parseJWK decodes the jwk header member for algorithm alg. The key type
// and curve must match alg, members are exact (names are case-sensitive) and
// base64url values canonical, so one key has one accepted form and one
// thumbprint. raw is a value inside a valid JSON header.
func parseJWK(raw []byte, alg string) (*publicKey, error) {
	if len(raw) == 0 || raw[0] != '{' || !validObject(raw) {
		return nil, invalid("jwk is not a JSON object")
	}
	var m jwkMembers
	members(raw, func(name, v []byte) {
		switch string(name) {
		case "kty":
			m.kty = v
		case "crv":
			m.crv = v
		case "x":
			m.x = v
		case "y":
			m.y = v
		case "n":
			m.n = v
		case "e":
			m.e = v
		default:
			for _, p := range privateMembers {
				if m.private == "" && string(name) == p {
					m.private = p
				}
			}
		}
	})
	if m.private != "" {
		return nil, invalid("jwk holds private key member %q", m.private)
	}
	kty, err := member(m.kty, "kty")
	if err != nil {
		return nil, err
	}
	switch alg {
	case "ES256":
		return parseEC(&m, kty)
	case "EdDSA":
		return parseOKP(&m, kty)
	case "RS256", "PS256":
		return parseRSA(&m, kty)
	}
	return nil, invalid("alg %q not supported", clip(alg))
}

func parseEC(m *jwkMembers, kty []byte) (*publicKey, error) {
	if string(kty) != "EC" {
		return nil, invalid("jwk kty %q does not fit ES256", clip(string(kty)))
	}
	crv, err := member(m.crv, "crv")
	if err != nil {
		return nil, err
	}
	if string(crv) != "P-256" {
		return nil, invalid("jwk crv %q does not fit ES256", clip(string(crv)))
	}
	// The uncompressed point: 0x04 || x || y.
	var point [65]byte
	point[0] = 4
	xs, err := bytesMember(point[1:33], m.x, "x")
	if err != nil {
		return nil, err
	}
	ys, err := bytesMember(point[33:], m.y, "y")
	if err != nil {
		return nil, err
	}
	// ParseUncompressedPublicKey refuses points not on the curve.
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), point[:])
	if err != nil {
		return nil, invalid("jwk is not a P-256 public key")
	}
	return &publicKey{key: pub, canonical: canonicalEC(xs, ys)}, nil
}

func parseOKP(m *jwkMembers, kty []byte) (*publicKey, error) {
	if string(kty) != "OKP" {
		return nil, invalid("jwk kty %q does not fit EdDSA", clip(string(kty)))
	}
	crv, err := member(m.crv, "crv")
	if err != nil {
		return nil, err
	}
	if string(crv) != "Ed25519" {
		return nil, invalid("jwk crv %q not supported for EdDSA", clip(string(crv)))
	}
	x := make([]byte, ed25519.PublicKeySize)
	xs, err := bytesMember(x, m.x, "x")
	if err != nil {
		return nil, err
	}
	return &publicKey{key: ed25519.PublicKey(x), canonical: canonicalOKP(xs)}, nil
}

func parseRSA(m *jwkMembers, kty []byte) (*publicKey, error) {
	if string(kty) != "RSA" {
		return nil, invalid("jwk kty %q does not fit RSA", clip(string(kty)))
	}
	n, ns, err := varBytesMember(m.n, "n", maxRSABits/8+1)
	if err != nil {
		return nil, err
	}
	e, es, err := varBytesMember(m.e, "e", 5)
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
	return &publicKey{key: pub, canonical: canonicalRSA(es, ns)}, nil
}

// member reads a required string member from its raw value.
func member(raw []byte, name string) ([]byte, error) {
	if isNull(raw) {
		return nil, invalid("jwk has no %q", name)
	}
	s, ok := jsonString(raw)
	if !ok {
		return nil, invalid("jwk %q is not a string", name)
	}
	return s, nil
}

// bytesMember decodes a required base64url member of exactly len(dst)
// octets into dst and returns its encoded form.
func bytesMember(dst, raw []byte, name string) ([]byte, error) {
	s, err := member(raw, name)
	if err != nil {
		return nil, err
	}
	if b64.DecodedLen(len(s)) != len(dst) {
		return nil, invalid("jwk %q is %d octets", name, b64.DecodedLen(len(s)))
	}
	n, err := decodeInto(dst, s)
	if err != nil {
		return nil, invalid("jwk %q is not base64url", name)
	}
	if n != len(dst) {
		return nil, invalid("jwk %q is %d octets", name, n)
	}
	return s, nil
}

// varBytesMember decodes a required base64url member of 1 to max octets
// (longer ones are refused by the caller's bounds anyway; max keeps the
// decoding bounded) and returns it and its encoded form.
func varBytesMember(raw []byte, name string, max int) ([]byte, []byte, error) {
	s, err := member(raw, name)
	if err != nil {
		return nil, nil, err
	}
	if b64.DecodedLen(len(s)) > max {
		return nil, nil, invalid("jwk %q is %d octets", name, b64.DecodedLen(len(s)))
	}
	b := make([]byte, b64.DecodedLen(len(s)))
	n, err := decodeInto(b, s)
	if err != nil {
		return nil, nil, invalid("jwk %q is not base64url", name)
	}
	if n == 0 {
		return nil, nil, invalid("jwk %q is 0 octets", name)
	}
	return b[:n], s, nil
}

// The canonical* functions write RFC 7638 §3.3 JSON: the required members
// in lexicographic order, no whitespace. Values are written as they are:
// callers pass base64url strings (checked by strict decoding, or made by
// encoding), which JSON never escapes.
func canonicalEC[T text](x, y T) []byte {
	return canonical(`{"crv":"P-256","kty":"EC","x":"`, x, `","y":"`, y, `"}`)
}

func canonicalOKP[T text](x T) []byte {
	return canonical(`{"crv":"Ed25519","kty":"OKP","x":"`, x, `"}`, x[:0], "")
}

func canonicalRSA[T text](e, n T) []byte {
	return canonical(`{"e":"`, e, `","kty":"RSA","n":"`, n, `"}`)
}

// canonical concatenates a, v1, b, v2 and c.
func canonical[T text](a string, v1 T, b string, v2 T, c string) []byte {
	buf := make([]byte, 0, len(a)+len(v1)+len(b)+len(v2)+len(c))
	buf = append(append(append(buf, a...), v1...), b...)
	return append(append(buf, v2...), c...)
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
		return &publicKey{key: p, canonical: canonicalEC(xs, ys)}, "ES256", nil
	case ed25519.PublicKey:
		xs := b64.EncodeToString(p)
		return &publicKey{key: p, canonical: canonicalOKP(xs)}, "EdDSA", nil
	case *rsa.PublicKey:
		e := big.NewInt(int64(p.E)).Bytes()
		return &publicKey{key: p, canonical: canonicalRSA(b64.EncodeToString(e), b64.EncodeToString(p.N.Bytes()))}, "PS256", nil
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
