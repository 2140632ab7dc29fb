package dpop

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// HeaderName is the HTTP header carrying a proof (RFC 9449 §4.1), and
// NonceHeader the one carrying a server-provided nonce (§8).
const (
	HeaderName  = "DPoP"
	NonceHeader = "DPoP-Nonce"
)

// ProofType is the JWS "typ" of a DPoP proof (RFC 9449 §4.2).
const ProofType = "dpop+jwt"

// Bounds on what Parse looks at, checked before any decoding.
const (
	// MaxProofSize bounds a proof; an RSA-8192 jwk fits with room.
	MaxProofSize = 8 << 10
	// MaxJTILen bounds jti (a proof's unique identifier) in bytes.
	MaxJTILen = 256
	// MaxNonceLen bounds nonce in bytes.
	MaxNonceLen = 256
)

// Sentinel errors; compare with errors.Is.
var (
	// ErrInvalidProof is wrapped by every refusal of a proof
	// (invalid_dpop_proof, RFC 9449 §5 and §7.1).
	ErrInvalidProof = errors.New("dpop: invalid proof")
	// ErrReplayed: the proof's jti was seen before (§11.1). Wraps
	// ErrInvalidProof.
	ErrReplayed = fmt.Errorf("%w: replayed", ErrInvalidProof)
	// ErrUseNonce: the server requires a nonce and the proof has none or a
	// stale one (§8: answer use_dpop_nonce with a fresh DPoP-Nonce).
	ErrUseNonce = errors.New("dpop: proof needs a fresh server nonce")
)

// Algorithms returns the proof algorithms Parse accepts, in order of
// preference: asymmetric only (§4.3 check 5; never "none" or HMAC). The
// token server advertises them as dpop_signing_alg_values_supported.
func Algorithms() []string { return []string{"ES256", "EdDSA", "PS256", "RS256"} }

// Proof is a parsed, signature-checked DPoP proof.
type Proof struct {
	// Algorithm is the JWS alg the proof was signed with.
	Algorithm string
	// JKT is the RFC 7638 SHA-256 thumbprint (base64url) of the proof's
	// public key: cnf.jkt of tokens bound to it.
	JKT string
	// Claims as sent; Parse checks their presence and types only.
	ID       string    // jti
	Method   string    // htm
	URL      string    // htu
	IssuedAt time.Time // iat
	// AccessTokenHash (ath) and Nonce are "" when absent.
	AccessTokenHash string
	Nonce           string
}

// b64 is base64url without padding, refusing non-zero trailing bits, so
// each byte string has one accepted encoding.
var b64 = base64.RawURLEncoding.Strict()

// errLineBreak: encoding/base64 skips CR and LF even in strict mode, and
// RFC 7515 §2 allows no line breaks in base64url.
var errLineBreak = errors.New("line break in base64url")

// decodeSegment decodes base64url, refusing line breaks.
func decodeSegment(seg string) ([]byte, error) {
	if strings.ContainsAny(seg, "\r\n") {
		return nil, errLineBreak
	}
	return b64.DecodeString(seg)
}

// decodeInto decodes base64url src into dst (room for
// b64.DecodedLen(len(src))), refusing line breaks; it returns the length.
func decodeInto(dst, src []byte) (int, error) {
	if bytes.ContainsAny(src, "\r\n") {
		return 0, errLineBreak
	}
	return b64.Decode(dst, src)
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidProof}, args...)...)
}

// clip shortens attacker-controlled values quoted in errors (and logs).
func clip(s string) string {
	const max = 64
	if len(s) <= max {
		return s
	}
	return s[:max] + "…"
}

// Parse checks a proof on its own (RFC 9449 §4.3 checks 2 to 7): one
// compact JWS; typ dpop+jwt; alg among Algorithms() (and among algs if
// given); a public jwk fitting alg; the signature by that jwk; jti, htm,
// htu and iat present with the right types. It does not compare the claims
// with any request; see Checker.
//
// It runs on every DPoP request, so it decodes the JWS itself (one copy of
// the proof, one buffer for the decoded parts, members read in place; see
// jsonobj.go) and verifies with crypto/* directly.
func Parse(proof string, algs ...string) (*Proof, error) {
	if len(proof) > MaxProofSize {
		return nil, invalid("longer than %d bytes", MaxProofSize)
	}
	h, rest, ok1 := strings.Cut(proof, ".")
	p, s, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || strings.Contains(s, ".") {
		return nil, invalid("not a compact JWS (want three dot-separated parts)")
	}
	raw := []byte(proof)
	input := raw[:len(h)+1+len(p)]
	dec := make([]byte, b64.DecodedLen(len(h))+b64.DecodedLen(len(p))+b64.DecodedLen(len(s)))
	hdr, dec, err := decodePart(dec, raw[:len(h)], "header")
	if err != nil {
		return nil, err
	}
	if !validObject(hdr) {
		return nil, invalid("header is not a JSON object")
	}
	var typ, alg, rawJWK []byte
	var ext string
	members(hdr, func(name, v []byte) {
		switch string(name) {
		case "typ":
			typ = v
		case "alg":
			alg = v
		case "jwk":
			rawJWK = v
		case "crit", "b64":
			// RFC 7515 §4.1.11: we understand no extensions, so a critical
			// one must be refused; b64 (RFC 7797) changes what is signed.
			ext = string(name)
		}
	})
	if ext != "" {
		return nil, invalid("unsupported header parameter %q", ext)
	}
	typS, err := stringMember(typ, "header", "typ")
	if err != nil {
		return nil, err
	}
	// Media type names compare case-insensitively (RFC 7515 §4.1.9).
	if !strings.EqualFold(typS, ProofType) {
		return nil, invalid("typ %q is not %q", clip(typS), ProofType)
	}
	algS, err := stringMember(alg, "header", "alg")
	if err != nil {
		return nil, err
	}
	algName, ok := supported(algS)
	if !ok || !allowed(algName, algs) {
		return nil, invalid("alg %q not accepted", clip(algS))
	}
	if rawJWK == nil {
		return nil, invalid(`header has no "jwk"`)
	}
	key, err := parseJWK(rawJWK, algName)
	if err != nil {
		return nil, err
	}
	sig, dec, err := decodePart(dec, raw[len(input)+1:], "signature")
	if err != nil {
		return nil, err
	}
	if !verifySignature(algName, key.key, input, sig) {
		return nil, invalid("bad signature")
	}
	payload, _, err := decodePart(dec, raw[len(h)+1:len(input)], "payload")
	if err != nil {
		return nil, err
	}
	if !validObject(payload) {
		return nil, invalid("payload is not a JSON object")
	}
	var jti, htm, htu, iat, ath, nonce string
	// One string for the claims; the kept ones are substrings of it.
	members(string(payload), func(name, v string) {
		switch name {
		case "jti":
			jti = v
		case "htm":
			htm = v
		case "htu":
			htu = v
		case "iat":
			iat = v
		case "ath":
			ath = v
		case "nonce":
			nonce = v
		}
	})
	out := &Proof{Algorithm: algName, JKT: key.thumbprint()}
	if out.ID, err = stringMember(jti, "claim", "jti"); err != nil {
		return nil, err
	}
	if len(out.ID) > MaxJTILen {
		return nil, invalid("jti longer than %d bytes", MaxJTILen)
	}
	if out.Method, err = stringMember(htm, "claim", "htm"); err != nil {
		return nil, err
	}
	if out.URL, err = stringMember(htu, "claim", "htu"); err != nil {
		return nil, err
	}
	if out.IssuedAt, err = numericDate(iat, "iat"); err != nil {
		return nil, err
	}
	if out.AccessTokenHash, err = optionalString(ath, "ath"); err != nil {
		return nil, err
	}
	if out.Nonce, err = optionalString(nonce, "nonce"); err != nil {
		return nil, err
	}
	if len(out.Nonce) > MaxNonceLen {
		return nil, invalid("nonce longer than %d bytes", MaxNonceLen)
	}
	return out, nil
}

// supported returns the canonical name of alg if Parse accepts it at all
// (§4.3 check 5: asymmetric only, never "none" or HMAC), so that Proof
// keeps a constant rather than a slice of the proof.
func supported(alg string) (string, bool) {
	for _, a := range [...]string{"ES256", "EdDSA", "PS256", "RS256"} {
		if a == alg {
			return a, true
		}
	}
	return "", false
}

func allowed(alg string, algs []string) bool {
	if _, ok := supported(alg); !ok {
		return false
	}
	if len(algs) == 0 {
		return true
	}
	for _, a := range algs {
		if a == alg {
			return true
		}
	}
	return false
}

// decodePart decodes the base64url part src into the front of buf and
// returns it and the rest of buf.
func decodePart(buf, src []byte, what string) (part, rest []byte, err error) {
	n, err := decodeInto(buf, src)
	if err != nil {
		return nil, nil, invalid("%s is not base64url", what)
	}
	return buf[:n:n], buf[n:], nil
}

// stringMember reads a required, non-empty string member from its raw
// value (empty when absent).
func stringMember[T text](raw T, what, name string) (string, error) {
	s, err := optionalString(raw, name)
	if err != nil {
		return "", err
	}
	if s == "" {
		return "", invalid("%s %q missing or empty", what, name)
	}
	return s, nil
}

// optionalString reads a string member; absent or null is "".
func optionalString[T text](raw T, name string) (string, error) {
	if isNull(raw) {
		return "", nil
	}
	s, ok := jsonString(raw)
	if !ok {
		return "", invalid("%q is not a string", name)
	}
	return string(s), nil
}

// numericDate reads a required NumericDate (RFC 7519 §2): seconds since the
// epoch, fractions allowed and dropped. null is refused like absence.
func numericDate(raw, name string) (time.Time, error) {
	if isNull(raw) {
		return time.Time{}, invalid("claim %q missing", name)
	}
	f, ok := jsonNumber(raw)
	if !ok || math.IsNaN(f) || f < 0 || f > 1<<40 {
		return time.Time{}, invalid("claim %q is not a NumericDate", name)
	}
	return time.Unix(int64(f), 0), nil
}
