package tokenserver

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tokenserver/tokenserver/store"
)

// Values of token_type_hint (RFC 7009 §2.1, RFC 7662 §2.1).
const (
	hintAccessToken  = "access_token"
	hintRefreshToken = "refresh_token"
)

// accessTokenLeeway tolerates clock skew between server instances when
// checking nbf and iat: a token dated this little into the future is
// still accepted.
const accessTokenLeeway = 10 * time.Second

// presentedToken is the `token` parameter of /revoke and /introspect and
// the order in which to try the token types.
type presentedToken struct {
	value string
	// refreshFirst follows token_type_hint=refresh_token. The hint only
	// orders the search: RFC 7009 §2.1 says the server MUST extend its
	// search to every supported type when the hint does not find the token,
	// and MAY ignore the hint, which is what we do with an unknown value
	// (RFC 7662 §2.1 says the same).
	refreshFirst bool
}

// presentedTokenFrom reads `token` (REQUIRED, RFC 7009 §2.1 and RFC 7662
// §2.1) and token_type_hint.
func presentedTokenFrom(f form) (presentedToken, error) {
	value, err := f.require("token")
	if err != nil {
		return presentedToken{}, err
	}
	return presentedToken{value: value, refreshFirst: f["token_type_hint"] == hintRefreshToken}, nil
}

// looksLikeJWS reports whether token has the three-part shape of a compact
// JWS, so that anything else skips signature verification.
func looksLikeJWS(token string) bool {
	return strings.Count(token, ".") == 2
}

// refreshTokenLen is the length of every refresh token newRefreshToken
// makes.
var refreshTokenLen = base64.RawURLEncoding.EncodedLen(refreshTokenBytes)

// looksLikeRefreshToken reports whether token has the shape of a refresh
// token made by newRefreshToken (unpadded base64url of refreshTokenBytes),
// so that access tokens and garbage never cost a store lookup.
func looksLikeRefreshToken(token string) bool {
	if len(token) != refreshTokenLen {
		return false
	}
	for i := 0; i < len(token); i++ {
		c := token[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// verifyAccessToken checks token's signature against the published keys and
// decodes its claims once. ok is false for anything that is not a
// well-formed access token of this issuer; it says nothing about expiry
// or revocation.
func (s *Server) verifyAccessToken(token string) (claims accessTokenClaims, ok bool) {
	if !looksLikeJWS(token) {
		return accessTokenClaims{}, false
	}
	payload, err := s.cfg.Keys.Verify(token)
	if err != nil {
		return accessTokenClaims{}, false
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		return accessTokenClaims{}, false
	}
	// Every token we issue has these (RFC 9068 §2.2); one without them was
	// not issued by this server, whatever key signed it.
	if claims.Issuer != s.cfg.Issuer || claims.Subject == "" || claims.ClientID == "" ||
		claims.JWTID == "" || claims.ExpiresAt == 0 || claims.IssuedAt == 0 {
		return accessTokenClaims{}, false
	}
	return claims, true
}

// headerKID returns the `kid` of token's protected header, or "" when it
// cannot be read. Call it only on a token keys.Manager.Verify accepted: the
// header is then well-formed and covered by our signature. The member name
// is matched exactly (a map, since encoding/json matches struct fields
// case-insensitively), as keys does.
func headerKID(token string) string {
	h, _, _ := strings.Cut(token, ".")
	raw, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		return ""
	}
	if kid, ok := signerHeaderKID(raw); ok {
		return kid
	}
	var members map[string]json.RawMessage
	if json.Unmarshal(raw, &members) != nil {
		return ""
	}
	var kid string
	if json.Unmarshal(members["kid"], &kid) != nil {
		return ""
	}
	return kid
}

// signerHeaderKID reads the kid of the header keys signs with,
// {"alg":"…","kid":"…","typ":"…"}, without a JSON decoder: when raw has
// exactly that shape and no value contains a quote or backslash (so none
// needs unescaping), the object has those three members and these values.
// Anything else reports false and is decoded.
func signerHeaderKID(raw []byte) (string, bool) {
	rest, ok := bytes.CutPrefix(raw, []byte(`{"alg":"`))
	if !ok {
		return "", false
	}
	var alg, kid []byte
	if alg, rest, ok = bytes.Cut(rest, []byte(`","kid":"`)); !ok || !plainJSONString(alg) {
		return "", false
	}
	if kid, rest, ok = bytes.Cut(rest, []byte(`","typ":"`)); !ok || !plainJSONString(kid) || !utf8.Valid(kid) {
		return "", false
	}
	typ, ok := bytes.CutSuffix(rest, []byte(`"}`))
	if !ok || !plainJSONString(typ) {
		return "", false
	}
	return string(kid), true
}

// plainJSONString reports whether b, the inside of a JSON string, means
// itself: no quote, backslash or control character. (The decoder would
// also turn invalid UTF-8 into U+FFFD; the kid is checked for that.)
func plainJSONString(b []byte) bool {
	for _, c := range b {
		if c == '"' || c == '\\' || c < 0x20 {
			return false
		}
	}
	return true
}

// expired reports whether exp has passed at now. RFC 7519 §4.1.4: the
// current time MUST be before exp; NumericDate is whole seconds.
func (c *accessTokenClaims) expired(now time.Time) bool {
	return now.Unix() >= c.ExpiresAt
}

// currentAt reports whether the token is within its validity window at
// now: not expired, and neither nbf (RFC 7519 §4.1.5) nor iat in the
// future beyond accessTokenLeeway.
func (c *accessTokenClaims) currentAt(now time.Time) bool {
	if c.expired(now) {
		return false
	}
	latest := now.Add(accessTokenLeeway).Unix()
	return c.NotBefore <= latest && c.IssuedAt <= latest
}

// maxAccessTokenTTL is the longest lifetime an access token issued to
// client can have: its own lifetime, or the server's if that is longer
// (the client's may have been shortened since tokens were issued). A
// revocation by sid must outlive every token of the family.
func (s *Server) maxAccessTokenTTL(client store.Client) time.Duration {
	return max(effective(client.AccessTokenTTL, s.cfg.AccessTokenTTL), s.cfg.AccessTokenTTL)
}
