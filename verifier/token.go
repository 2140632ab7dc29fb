package verifier

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v3/jws"
)

// header is the JOSE header fields the verifier reads.
type header struct {
	Alg  string          `json:"alg"`
	Kid  string          `json:"kid"`
	Typ  string          `json:"typ"`
	Crit json.RawMessage `json:"crit"`
	B64  json.RawMessage `json:"b64"`
}

// wireClaims is the JSON payload of an RFC 9068 access token.
type wireClaims struct {
	Iss      string       `json:"iss"`
	Sub      string       `json:"sub"`
	Aud      audience     `json:"aud"`
	Exp      *numericDate `json:"exp"`
	Iat      *numericDate `json:"iat"`
	Nbf      *numericDate `json:"nbf"`
	JTI      string       `json:"jti"`
	ClientID string       `json:"client_id"`
	Scope    string       `json:"scope"`
	SID      string       `json:"sid"`
	Username string       `json:"username"`
	// Cnf is the confirmation claim (RFC 7800 §3.1) of a DPoP-bound token.
	Cnf *confirmation `json:"cnf"`
}

// confirmation is the cnf claim; jkt is the only confirmation method the
// verifier knows (RFC 9449 §6.1).
type confirmation struct {
	JKT string `json:"jkt"`
}

// audience accepts aud as a string or an array of strings (RFC 7519 §4.1.3).
type audience []string

func (a *audience) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*a = audience{s}
		return nil
	}
	var list []string
	if err := json.Unmarshal(b, &list); err != nil {
		return fmt.Errorf("aud must be a string or an array of strings")
	}
	*a = list
	return nil
}

// numericDate is seconds since the epoch, possibly fractional (RFC 7519 §2).
type numericDate struct{ time.Time }

// maxNumericDate keeps conversions well inside int64 nanoseconds.
const maxNumericDate = 1 << 33

func (d *numericDate) UnmarshalJSON(b []byte) error {
	// encoding/json has already checked b is one valid JSON value; allowing
	// only number characters keeps ParseFloat from accepting "Infinity",
	// hex floats or a quoted string.
	for _, c := range b {
		if (c < '0' || c > '9') && c != '.' && c != 'e' && c != 'E' && c != '+' && c != '-' {
			return fmt.Errorf("NumericDate must be a number")
		}
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return fmt.Errorf("NumericDate must be a number")
	}
	if math.IsNaN(f) || f < 0 || f > maxNumericDate {
		return fmt.Errorf("NumericDate %v out of range", f)
	}
	sec, frac := math.Modf(f)
	d.Time = time.Unix(int64(sec), int64(frac*1e9))
	return nil
}

// verifyToken does every check except revocation.
func (v *Verifier) verifyToken(ctx context.Context, token string, now time.Time) (*Claims, error) {
	if len(token) > maxTokenSize {
		return nil, invalid("token longer than %d bytes", maxTokenSize)
	}
	// RFC 7515 §7.1: exactly three dot-separated parts.
	encHeader, rest, ok1 := strings.Cut(token, ".")
	encPayload, encSig, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || strings.Contains(encSig, ".") {
		return nil, invalid("not a compact JWS")
	}
	// Every segment is decoded strictly and exactly once, before any key
	// lookup, so a malformed token never causes a JWKS refresh.
	rawHeader, err := decodeSegment(encHeader)
	if err != nil {
		return nil, invalid("header: %v", err)
	}
	payload, err := decodeSegment(encPayload)
	if err != nil {
		return nil, invalid("payload: %v", err)
	}
	sig, err := decodeSegment(encSig)
	if err != nil {
		return nil, invalid("signature: %v", err)
	}
	var h header
	if err := json.Unmarshal(rawHeader, &h); err != nil {
		return nil, invalid("header: %v", err)
	}
	// RFC 9068 §4: the resource server MUST verify that typ is at+jwt or
	// application/at+jwt (media types compare case-insensitively, RFC 7515
	// §4.1.9), which keeps ID tokens and other JWTs out.
	if !strings.EqualFold(h.Typ, "at+jwt") && !strings.EqualFold(h.Typ, "application/at+jwt") {
		return nil, invalid("typ %q is not at+jwt", h.Typ)
	}
	// RFC 7515 §4.1.11: critical extensions we do not understand MUST be
	// rejected; we understand none.
	if len(h.Crit) != 0 {
		return nil, invalid("crit header not supported")
	}
	// RFC 7797 unencoded payloads (b64) change what is signed; we never
	// issue them.
	if len(h.B64) != 0 {
		return nil, invalid("b64 header not supported")
	}
	if _, ok := algorithms[h.Alg]; !ok {
		return nil, invalid("alg %q not accepted", h.Alg)
	}
	if h.Kid == "" {
		return nil, invalid("no kid")
	}
	key, ok := v.jwks.key(ctx, h.Kid)
	if !ok {
		return nil, invalid("unknown kid %q", h.Kid)
	}
	// Algorithm pinning: the header must name the key's one algorithm.
	if h.Alg != key.algName {
		return nil, invalid("alg %q does not match key %q (%s)", h.Alg, h.Kid, key.algName)
	}
	// The signature is checked over the signing input as received
	// (RFC 7515 §5.2 step 8) with the key's pinned algorithm.
	sv, err := jws.VerifierFor(key.alg)
	if err != nil {
		return nil, invalid("alg %q: %v", key.algName, err)
	}
	if err := sv.Verify(key.public, []byte(token[:len(encHeader)+1+len(encPayload)]), sig); err != nil {
		return nil, invalid("signature: %v", err)
	}
	var wc wireClaims
	if err := json.Unmarshal(payload, &wc); err != nil {
		return nil, invalid("claims: %v", err)
	}
	c, err := v.checkClaims(&wc, now)
	if err != nil {
		return nil, err
	}
	c.KeyID = h.Kid
	return c, nil
}

// checkClaims applies RFC 9068 §4 and RFC 7519 §4.1 to the decoded claims.
func (v *Verifier) checkClaims(wc *wireClaims, now time.Time) (*Claims, error) {
	// RFC 9068 §4: iss MUST exactly match the issuer.
	if wc.Iss != v.issuer {
		return nil, invalid("iss %q is not the issuer", wc.Iss)
	}
	// RFC 9068 §2.2: exp, iat, sub, client_id and jti are REQUIRED.
	if wc.Exp == nil || wc.Iat == nil {
		return nil, invalid("exp and iat are required")
	}
	if wc.Sub == "" || wc.ClientID == "" || wc.JTI == "" {
		return nil, invalid("sub, client_id and jti are required")
	}
	// RFC 9068 §4 / RFC 7519 §4.1.4: the current time MUST be before exp.
	if !now.Before(wc.Exp.Add(v.leeway)) {
		return nil, fmt.Errorf("%w at %s", ErrExpired, wc.Exp.UTC().Format(time.RFC3339))
	}
	if wc.Nbf != nil && wc.Nbf.After(now.Add(v.leeway)) {
		return nil, invalid("not valid before %s", wc.Nbf.UTC().Format(time.RFC3339))
	}
	if wc.Iat.After(now.Add(v.leeway)) {
		return nil, invalid("issued in the future (%s)", wc.Iat.UTC().Format(time.RFC3339))
	}
	// A confirmation we cannot check (mTLS x5t#S256, a JWK) must not turn
	// the token into a bearer token: refuse it.
	if wc.Cnf != nil && wc.Cnf.JKT == "" {
		return nil, invalid("cnf without jkt: confirmation method not supported")
	}
	// RFC 9068 §4: aud MUST contain the resource server's identifier.
	// Checked last, so that ErrAudienceMismatch (whose text the middleware
	// shows the client) means the token failed on aud alone.
	if !slices.Contains(wc.Aud, v.audience) {
		return nil, newAudienceMismatch(wc.Aud, v.audience)
	}
	c := &Claims{
		Issuer:    wc.Iss,
		Subject:   wc.Sub,
		Audience:  wc.Aud,
		ExpiresAt: wc.Exp.Time,
		IssuedAt:  wc.Iat.Time,
		JTI:       wc.JTI,
		ClientID:  wc.ClientID,
		Scope:     wc.Scope,
		SID:       wc.SID,
		Username:  wc.Username,
	}
	if wc.Nbf != nil {
		c.NotBefore = wc.Nbf.Time
	}
	if wc.Cnf != nil {
		c.JKT = wc.Cnf.JKT
	}
	return c, nil
}

// b64url decodes JWS segments: base64url without padding, refusing
// non-zero unused trailing bits (Strict) so that each byte string has
// exactly one accepted encoding.
var b64url = base64.RawURLEncoding.Strict()

// decodeSegment decodes one JWS segment. RFC 7515 §2 defines Base64url
// Encoding as the URL- and filename-safe alphabet with all trailing '='
// omitted and no line breaks, whitespace or other additional characters,
// and §7.1 builds the compact serialization from it: '+', '/', '=', any
// whitespace and non-canonical trailing bits are refused. encoding/base64
// skips CR and LF even in strict mode, so those are refused first.
func decodeSegment(seg string) ([]byte, error) {
	if strings.ContainsAny(seg, "\r\n") {
		return nil, errors.New("base64url: line break")
	}
	b, err := b64url.DecodeString(seg)
	if err != nil {
		return nil, fmt.Errorf("base64url: %w", err)
	}
	return b, nil
}
