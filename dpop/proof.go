package dpop

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jws"
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

// decodeSegment decodes base64url, refusing the CR and LF encoding/base64
// skips even in strict mode (RFC 7515 §2: no line breaks).
func decodeSegment(seg string) ([]byte, error) {
	if strings.ContainsAny(seg, "\r\n") {
		return nil, errors.New("line break in base64url")
	}
	return b64.DecodeString(seg)
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
func Parse(proof string, algs ...string) (*Proof, error) {
	if len(proof) > MaxProofSize {
		return nil, invalid("longer than %d bytes", MaxProofSize)
	}
	h, rest, ok1 := strings.Cut(proof, ".")
	p, s, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || strings.Contains(s, ".") {
		return nil, invalid("not a compact JWS (want three dot-separated parts)")
	}
	hdr, err := decodeObject(h, "header")
	if err != nil {
		return nil, err
	}
	// RFC 7515 §4.1.11: we understand no extensions, so a critical one must
	// be refused; b64 (RFC 7797) changes what is signed.
	for _, name := range []string{"crit", "b64"} {
		if _, ok := hdr[name]; ok {
			return nil, invalid("unsupported header parameter %q", name)
		}
	}
	typ, err := stringMember(hdr, "header", "typ")
	if err != nil {
		return nil, err
	}
	// Media type names compare case-insensitively (RFC 7515 §4.1.9).
	if !strings.EqualFold(typ, ProofType) {
		return nil, invalid("typ %q is not %q", clip(typ), ProofType)
	}
	alg, err := stringMember(hdr, "header", "alg")
	if err != nil {
		return nil, err
	}
	if !allowed(alg, algs) {
		return nil, invalid("alg %q not accepted", clip(alg))
	}
	rawJWK, ok := hdr["jwk"]
	if !ok {
		return nil, invalid(`header has no "jwk"`)
	}
	key, err := parseJWK(rawJWK, alg)
	if err != nil {
		return nil, err
	}
	sig, err := decodeSegment(s)
	if err != nil {
		return nil, invalid("signature is not base64url")
	}
	jalg, ok := jwa.LookupSignatureAlgorithm(alg)
	if !ok {
		return nil, invalid("alg %q unknown", clip(alg))
	}
	verifier, err := jws.VerifierFor(jalg)
	if err != nil {
		return nil, fmt.Errorf("dpop: verifier for %s: %w", alg, err)
	}
	if err := verifier.Verify(key.key, []byte(proof[:len(h)+1+len(p)]), sig); err != nil {
		return nil, invalid("bad signature")
	}
	claims, err := decodeObject(p, "payload")
	if err != nil {
		return nil, err
	}
	out := &Proof{Algorithm: alg, JKT: key.thumbprint()}
	if out.ID, err = stringMember(claims, "claim", "jti"); err != nil {
		return nil, err
	}
	if len(out.ID) > MaxJTILen {
		return nil, invalid("jti longer than %d bytes", MaxJTILen)
	}
	if out.Method, err = stringMember(claims, "claim", "htm"); err != nil {
		return nil, err
	}
	if out.URL, err = stringMember(claims, "claim", "htu"); err != nil {
		return nil, err
	}
	if out.IssuedAt, err = numericDate(claims, "iat"); err != nil {
		return nil, err
	}
	if out.AccessTokenHash, err = optionalString(claims, "ath"); err != nil {
		return nil, err
	}
	if out.Nonce, err = optionalString(claims, "nonce"); err != nil {
		return nil, err
	}
	if len(out.Nonce) > MaxNonceLen {
		return nil, invalid("nonce longer than %d bytes", MaxNonceLen)
	}
	return out, nil
}

func allowed(alg string, algs []string) bool {
	ok := false
	for _, a := range Algorithms() {
		ok = ok || a == alg
	}
	if !ok || len(algs) == 0 {
		return ok
	}
	for _, a := range algs {
		if a == alg {
			return true
		}
	}
	return false
}

// decodeObject decodes a base64url JSON object into its members by exact
// name (encoding/json matches struct fields case-insensitively).
func decodeObject(seg, what string) (map[string]json.RawMessage, error) {
	raw, err := decodeSegment(seg)
	if err != nil {
		return nil, invalid("%s is not base64url", what)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return nil, invalid("%s is not a JSON object", what)
	}
	return m, nil
}

// stringMember reads a required, non-empty string member.
func stringMember(m map[string]json.RawMessage, what, name string) (string, error) {
	s, err := optionalString(m, name)
	if err != nil {
		return "", err
	}
	if s == "" {
		return "", invalid("%s %q missing or empty", what, name)
	}
	return s, nil
}

// optionalString reads a string member; absent or null is "".
func optionalString(m map[string]json.RawMessage, name string) (string, error) {
	v, ok := m[name]
	if !ok || string(v) == "null" {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return "", invalid("%q is not a string", name)
	}
	return s, nil
}

// numericDate reads a required NumericDate (RFC 7519 §2): seconds since the
// epoch, fractions allowed and dropped.
func numericDate(m map[string]json.RawMessage, name string) (time.Time, error) {
	v, ok := m[name]
	if !ok {
		return time.Time{}, invalid("claim %q missing", name)
	}
	var f float64
	if err := json.Unmarshal(v, &f); err != nil || math.IsNaN(f) || f < 0 || f > 1<<40 {
		return time.Time{}, invalid("claim %q is not a NumericDate", name)
	}
	return time.Unix(int64(f), 0), nil
}
