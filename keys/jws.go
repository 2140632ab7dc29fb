package keys

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jws"
	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"
)

// TokenType is the JWS "typ" of access tokens (RFC 9068 §2.1).
const TokenType = "at+jwt"

// MaxTokenSize bounds the tokens Verify looks at; ours are a few hundred
// bytes, and anything longer is rejected before any decoding.
const MaxTokenSize = 16 << 10

// ErrInvalidToken is wrapped by every error Verify returns.
var ErrInvalidToken = errors.New("keys: invalid token")

// b64 is base64url without padding, refusing non-zero unused trailing
// bits (Strict), so each byte string has one accepted encoding. Decode JWS
// segments with decodeSegment, which also refuses line breaks.
var b64 = base64.RawURLEncoding.Strict()

// decodeSegment decodes one JWS segment. RFC 7515 §2 defines Base64url
// Encoding with all trailing '=' omitted and no line breaks, whitespace or
// other additional characters; encoding/base64 skips CR and LF even in
// strict mode, so those are refused first.
func decodeSegment(seg string) ([]byte, error) {
	if strings.ContainsAny(seg, "\r\n") {
		return nil, errors.New("line break in base64url")
	}
	return b64.DecodeString(seg)
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidToken}, args...)...)
}

// signingKey is the current key prepared for the hot path: the encoded
// protected header is fixed per key, so Sign only encodes the payload and
// signs.
type signingKey struct {
	kid    string
	prefix string // base64url(protected header) + "."
	priv   any
	signer jws.Signer2
	sigLen int // signature length, for sizing the output buffer
	// es256 is set for a P-256 key signing ES256, which is signed with
	// crypto/ecdsa directly.
	es256 bool
}

// protectedHeader is the complete JOSE header of our tokens; struct order
// fixes the member order.
type protectedHeader struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
	Typ string `json:"typ"`
}

func newSigningKey(k *Key) (*signingKey, error) {
	jalg, ok := jwa.LookupSignatureAlgorithm(k.Algorithm)
	if !ok {
		return nil, unsupportedAlgorithm(k.Algorithm)
	}
	signer, err := jws.SignerFor(jalg)
	if err != nil {
		return nil, fmt.Errorf("keys: signer for %s: %w", k.Algorithm, err)
	}
	hdr, err := json.Marshal(protectedHeader{Alg: k.Algorithm, Kid: k.ID, Typ: TokenType})
	if err != nil {
		return nil, fmt.Errorf("keys: encode header: %w", err)
	}
	var sigLen int
	var es256 bool
	switch p := k.Signer.(type) {
	case *ecdsa.PrivateKey:
		sigLen = 2 * ((p.Curve.Params().BitSize + 7) / 8)
		es256 = k.Algorithm == ES256 && p.Curve == elliptic.P256()
	case *rsa.PrivateKey:
		sigLen = p.Size()
	case ed25519.PrivateKey:
		sigLen = ed25519.SignatureSize
	}
	return &signingKey{
		kid:    k.ID,
		prefix: b64.EncodeToString(hdr) + ".",
		priv:   k.Signer,
		signer: signer,
		sigLen: sigLen,
		es256:  es256,
	}, nil
}

// sign returns the compact serialization (RFC 7515 §7.1):
// base64url(header) "." base64url(payload) "." base64url(signature).
func (k *signingKey) sign(payload []byte) (string, error) {
	n := len(k.prefix) + b64.EncodedLen(len(payload))
	buf := make([]byte, n, n+1+b64.EncodedLen(k.sigLen))
	copy(buf, k.prefix)
	b64.Encode(buf[len(k.prefix):], payload)
	sig, err := k.signature(buf)
	if err != nil {
		return "", fmt.Errorf("keys: sign with %s: %w", k.kid, err)
	}
	buf = append(buf, '.')
	buf = b64.AppendEncode(buf, sig)
	return string(buf), nil
}

// signature signs the JWS signing input. ECDSA and Ed25519 go straight to
// the standard library: jwx's generic path signs ECDSA through crypto/ecdsa's
// big.Int API (DER, then big.Int, then bytes) and allocates on the way;
// RSA keeps it.
func (k *signingKey) signature(input []byte) ([]byte, error) {
	switch p := k.priv.(type) {
	case *ecdsa.PrivateKey:
		if !k.es256 {
			break
		}
		digest := sha256.Sum256(input) // RFC 7518 §3.4: ES256 is ECDSA P-256 with SHA-256
		der, err := ecdsa.SignASN1(rand.Reader, p, digest[:])
		if err != nil {
			return nil, err
		}
		return ecdsaRawSignature(der, k.sigLen/2)
	case ed25519.PrivateKey:
		return ed25519.Sign(p, input), nil
	}
	return k.signer.Sign(k.priv, input)
}

// ecdsaRawSignature converts an ASN.1 DER Ecdsa-Sig-Value to the JWS form:
// R and S as big-endian unsigned integers of size bytes each, concatenated
// (RFC 7518 §3.4).
func ecdsaRawSignature(der []byte, size int) ([]byte, error) {
	var seq, r, s cryptobyte.String
	in := cryptobyte.String(der)
	if !in.ReadASN1(&seq, asn1.SEQUENCE) || !in.Empty() ||
		!seq.ReadASN1(&r, asn1.INTEGER) || !seq.ReadASN1(&s, asn1.INTEGER) || !seq.Empty() {
		return nil, errors.New("keys: malformed ECDSA signature")
	}
	out := make([]byte, 2*size)
	for i, v := range [2][]byte{r, s} {
		// DER integers are minimal two's complement: drop the sign byte.
		for len(v) > 0 && v[0] == 0 {
			v = v[1:]
		}
		if len(v) > size {
			return nil, errors.New("keys: malformed ECDSA signature")
		}
		copy(out[(i+1)*size-len(v):(i+1)*size], v)
	}
	return out, nil
}

// verifyKey is one published key prepared for Verify.
type verifyKey struct {
	alg      string
	pub      any
	verifier jws.Verifier2
	// removeAt: tokens stop verifying at this instant; zero means never
	// (current, next and PEM keys).
	removeAt time.Time
	// header is the encoded protected header this key's signer writes
	// (signingKey.prefix without the dot). A token carrying exactly it
	// needs no header parsing.
	header string
	kid    string
	es256  bool
}

func newVerifyKey(k *Key, removeAt time.Time) (*verifyKey, error) {
	jalg, ok := jwa.LookupSignatureAlgorithm(k.Algorithm)
	if !ok {
		return nil, unsupportedAlgorithm(k.Algorithm)
	}
	v, err := jws.VerifierFor(jalg)
	if err != nil {
		return nil, fmt.Errorf("keys: verifier for %s: %w", k.Algorithm, err)
	}
	hdr, err := json.Marshal(protectedHeader{Alg: k.Algorithm, Kid: k.ID, Typ: TokenType})
	if err != nil {
		return nil, fmt.Errorf("keys: encode header: %w", err)
	}
	pub := k.Signer.Public()
	ec, _ := pub.(*ecdsa.PublicKey)
	return &verifyKey{alg: k.Algorithm, pub: pub, verifier: v, removeAt: removeAt,
		header: b64.EncodeToString(hdr), kid: k.ID,
		es256: ec != nil && k.Algorithm == ES256 && ec.Curve == elliptic.P256()}, nil
}

// verifySignature checks sig over input. ES256 and EdDSA go straight to the
// standard library, as in signingKey.signature; RSA keeps jwx.
func (k *verifyKey) verifySignature(input, sig []byte) error {
	switch pub := k.pub.(type) {
	case *ecdsa.PublicKey:
		if !k.es256 {
			break
		}
		// RFC 7518 §3.4: R and S, 32 bytes each, nothing else.
		if len(sig) != 64 {
			return errors.New("bad ES256 signature length")
		}
		digest := sha256.Sum256(input)
		if !ecdsa.VerifyASN1(pub, digest[:], ecdsaDERSignature(sig[:32], sig[32:])) {
			return errors.New("bad signature")
		}
		return nil
	case ed25519.PublicKey:
		if !ed25519.Verify(pub, input, sig) {
			return errors.New("bad signature")
		}
		return nil
	}
	return k.verifier.Verify(k.pub, input, sig)
}

// ecdsaDERSignature encodes R and S (big-endian, unsigned) as an ASN.1 DER
// Ecdsa-Sig-Value. Zero values encode as INTEGER 0, which VerifyASN1
// refuses as it must (RFC 7518 §3.4 via FIPS 186: 0 < R, S < n).
func ecdsaDERSignature(r, s []byte) []byte {
	var b cryptobyte.Builder
	b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
		addASN1UnsignedInt(b, r)
		addASN1UnsignedInt(b, s)
	})
	der, _ := b.Bytes() // cannot fail: no length exceeds the builder's limits
	return der
}

// addASN1UnsignedInt adds v as a minimal DER INTEGER: no leading zero
// bytes, then one zero byte when the top bit is set (it is unsigned).
func addASN1UnsignedInt(b *cryptobyte.Builder, v []byte) {
	for len(v) > 0 && v[0] == 0 {
		v = v[1:]
	}
	b.AddASN1(asn1.INTEGER, func(b *cryptobyte.Builder) {
		if len(v) == 0 || v[0]&0x80 != 0 {
			b.AddUint8(0)
		}
		b.AddBytes(v)
	})
}

// verifyCompact checks a compact JWS against the published keys and returns
// its payload. It checks the JOSE header and the signature only, never the
// claims. The algorithm is pinned by the key, never taken from the token
// (RFC 8725 §3.1), so "none", HMAC and algorithm substitution cannot pass.
func verifyCompact(token string, keys map[string]*verifyKey, now time.Time) ([]byte, error) {
	if len(token) > MaxTokenSize {
		return nil, invalid("longer than %d bytes", MaxTokenSize)
	}
	// RFC 7515 §7.1: exactly three parts; a JWE has five.
	h, rest, ok1 := strings.Cut(token, ".")
	p, s, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || strings.Contains(s, ".") {
		return nil, invalid("not a compact JWS (want three dot-separated parts)")
	}
	hdr, err := headerOf(h, keys)
	if err != nil {
		return nil, err
	}
	key, ok := keys[hdr.kid]
	if !ok || (!key.removeAt.IsZero() && !now.Before(key.removeAt)) {
		return nil, invalid("unknown key id %q", clip(hdr.kid))
	}
	if hdr.alg != key.alg {
		return nil, invalid("alg %q does not match key %q (%s)", clip(hdr.alg), hdr.kid, key.alg)
	}
	// RFC 9068 §4: the resource server MUST verify that typ is "at+jwt" or
	// "application/at+jwt"; media types compare case-insensitively
	// (RFC 7515 §4.1.9).
	typ := hdr.typ
	if len(typ) > len("application/") && strings.EqualFold(typ[:len("application/")], "application/") {
		typ = typ[len("application/"):]
	}
	if !strings.EqualFold(typ, TokenType) {
		return nil, invalid("typ %q is not %q", clip(hdr.typ), TokenType)
	}
	sig, err := decodeSegment(s)
	if err != nil {
		return nil, invalid("signature is not base64url")
	}
	payload, err := decodeSegment(p)
	if err != nil {
		return nil, invalid("payload is not base64url")
	}
	if err := key.verifySignature([]byte(token[:len(h)+1+len(p)]), sig); err != nil {
		return nil, invalid("bad signature")
	}
	return payload, nil
}

type joseHeader struct {
	alg, kid, typ string
}

// headerOf returns the protected header encoded as h. Our own tokens carry
// byte for byte the header one of the keys signs with, which parseHeader
// would read as exactly that key's alg and kid and typ "at+jwt": that
// common case skips the JSON decoding. Anything else is parsed.
func headerOf(h string, keys map[string]*verifyKey) (joseHeader, error) {
	for _, k := range keys {
		if k.header == h {
			return joseHeader{alg: k.alg, kid: k.kid, typ: TokenType}, nil
		}
	}
	return parseHeader(h)
}

// parseHeader decodes the protected header strictly: exact member names
// (a map, since encoding/json matches struct fields case-insensitively),
// string values, and no "crit" (RFC 7515 §4.1.11: we understand no
// extensions, so any critical one must be rejected) and no "b64" (RFC 7797
// payload encoding, which we never use).
func parseHeader(h string) (joseHeader, error) {
	raw, err := decodeSegment(h)
	if err != nil {
		return joseHeader{}, invalid("header is not base64url")
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(raw, &members); err != nil {
		return joseHeader{}, invalid("header is not a JSON object")
	}
	if _, ok := members["crit"]; ok {
		return joseHeader{}, invalid("unsupported critical header parameters")
	}
	if _, ok := members["b64"]; ok {
		return joseHeader{}, invalid("unsupported b64 header parameter")
	}
	var hdr joseHeader
	if err := headerString(members, "alg", &hdr.alg); err != nil {
		return joseHeader{}, err
	}
	if err := headerString(members, "kid", &hdr.kid); err != nil {
		return joseHeader{}, err
	}
	if err := headerString(members, "typ", &hdr.typ); err != nil {
		return joseHeader{}, err
	}
	return hdr, nil
}

// headerString reads a required string member ("null" counts as missing).
func headerString(members map[string]json.RawMessage, name string, dst *string) error {
	v, ok := members[name]
	if !ok || string(v) == "null" {
		return invalid("header has no %q", name)
	}
	if err := json.Unmarshal(v, dst); err != nil {
		return invalid("header %q is not a string", name)
	}
	return nil
}

// clip shortens attacker-controlled header values quoted in errors, which
// may end up in logs.
func clip(s string) string {
	const max = 64
	if len(s) <= max {
		return s
	}
	return s[:max] + "…"
}
