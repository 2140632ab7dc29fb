package verifier

import (
	"context"
	"slices"
	"strings"
	"time"
)

// Claims are the verified claims of an RFC 9068 access token.
type Claims struct {
	Issuer   string
	Subject  string
	Audience []string
	// ExpiresAt and IssuedAt are always set; NotBefore is zero when the
	// token has no nbf claim.
	ExpiresAt time.Time
	IssuedAt  time.Time
	NotBefore time.Time
	JTI       string
	ClientID  string
	// Scope is the space-separated scope string (RFC 9068 §2.2.3).
	Scope string
	// SID is the session (refresh-token family) the token was issued from.
	SID      string
	Username string
	// KeyID is the `kid` of the token's JWS header: the issuer key that
	// signed it. A revocation by kid (an emergency key rotation) refuses
	// every token of that key.
	KeyID string
	// JKT is cnf.jkt of a DPoP-bound token: the RFC 7638 thumbprint of the
	// key its proofs must be signed with (RFC 9449 §6.1); "" for a bearer
	// token.
	JKT string
}

// HasScope reports whether s is one of the token's scope tokens. It does not
// allocate.
func (c *Claims) HasScope(s string) bool {
	if s == "" {
		return false
	}
	rest := c.Scope
	for rest != "" {
		var tok string
		tok, rest, _ = strings.Cut(rest, " ")
		if tok == s {
			return true
		}
	}
	return false
}

// HasAudience reports whether aud is one of the token's audiences.
func (c *Claims) HasAudience(aud string) bool {
	return slices.Contains(c.Audience, aud)
}

type claimsKey struct{}

// WithClaims returns a copy of ctx carrying c.
func WithClaims(ctx context.Context, c *Claims) context.Context {
	return context.WithValue(ctx, claimsKey{}, c)
}

// ClaimsFromContext returns the claims the middleware stored, or nil.
func ClaimsFromContext(ctx context.Context) *Claims {
	c, _ := ctx.Value(claimsKey{}).(*Claims)
	return c
}
