package verifier

import (
	"errors"
	"fmt"
)

// Errors returned by Verify and the revocation checkers. Every error Verify
// returns for a token that must be rejected wraps ErrInvalidToken; ErrExpired
// and ErrRevoked wrap ErrInvalidToken too, so a caller may test for the
// specific reason or for rejection in general. Compare with errors.Is.
var (
	// ErrInvalidToken: the token is malformed, its signature, type, issuer,
	// audience or times do not check out, or it is revoked or expired.
	ErrInvalidToken = errors.New("verifier: invalid token")
	// ErrExpired: the token's exp has passed (beyond the leeway).
	ErrExpired = fmt.Errorf("%w: expired", ErrInvalidToken)
	// ErrAudienceMismatch: the token checks out in every other respect
	// (signature, type, issuer, times, required claims) but its aud does not
	// include Config.Audience. The error's text names both, and the
	// middleware's error_description says so: the usual cause is a client
	// registered without the resource server's audience (`client add
	// --audience`), whose tokens carry the issuer's default aud.
	ErrAudienceMismatch = fmt.Errorf("%w: audience mismatch", ErrInvalidToken)
	// ErrRevoked: the revocation checker reports the token revoked.
	ErrRevoked = fmt.Errorf("%w: revoked", ErrInvalidToken)
	// ErrRevocationUnavailable: the revocation status cannot be known (the
	// feed is too stale, or the introspection endpoint failed). The token is
	// not accepted: the verifier fails closed. The middleware answers 503.
	ErrRevocationUnavailable = errors.New("verifier: revocation status unavailable")
)

// invalid wraps ErrInvalidToken with a detail for logs and callers.
func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidToken}, args...)...)
}
