package verifier

import "context"

// RevocationChecker tells whether a verified token has been revoked.
type RevocationChecker interface {
	// Revoked reports whether the token with claims c is revoked. It returns
	// an error (wrapping ErrRevocationUnavailable where the cause is the
	// source) when the status cannot be known; the verifier then rejects the
	// token rather than guess. It must not modify c.
	Revoked(ctx context.Context, c *Claims) (bool, error)
}

// tokenChecker is implemented by checkers that need the token itself
// (introspection). The token is passed this way rather than on Claims so
// that logging a Claims value can never leak a bearer token.
type tokenChecker interface {
	revokedToken(ctx context.Context, c *Claims, token string) (bool, error)
}
