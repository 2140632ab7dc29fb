package tokenserver

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/codes"
)

// accessTokenClaims is the payload of an RFC 9068 JWT access token.
type accessTokenClaims struct {
	Issuer    string   `json:"iss"`
	Subject   string   `json:"sub"`
	Audience  audience `json:"aud"`
	ExpiresAt int64    `json:"exp"`
	IssuedAt  int64    `json:"iat"`
	NotBefore int64    `json:"nbf"`
	JWTID     string   `json:"jti"`
	ClientID  string   `json:"client_id"`
	Scope     string   `json:"scope,omitempty"`
	SessionID string   `json:"sid,omitempty"`
	Username  string   `json:"username,omitempty"`
	// Roles is the user's roles (RFC 9068 §7.2.1.1), only for a client
	// registered with TokenRoles. Chosen attributes follow as further
	// members (profileClaims).
	Roles []string `json:"roles,omitempty"`
	// Cnf binds the token to a DPoP key (RFC 9449 §6.1); nil for Bearer.
	Cnf *confirmation `json:"cnf,omitempty"`
}

// audience marshals as a string when it has one entry and as an array
// otherwise (RFC 7519 §4.1.3 allows both; one string is what most
// resource servers expect).
type audience []string

func (a audience) MarshalJSON() ([]byte, error) {
	if len(a) == 1 {
		return json.Marshal(a[0])
	}
	return json.Marshal([]string(a))
}

// UnmarshalJSON accepts both forms, so introspection can decode our own
// tokens.
func (a *audience) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var one string
		if err := json.Unmarshal(b, &one); err != nil {
			return err
		}
		*a = audience{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return err
	}
	*a = many
	return nil
}

// session is what an access token is issued for.
type session struct {
	userID   string
	username string
	// familyID is the refresh-token family (`sid`); empty without one.
	familyID string
	scope    []string
	// roles and attributes are the user's profile as read by this grant;
	// the client's registration decides what reaches the token.
	roles      []string
	attributes map[string]json.RawMessage
}

// issuedToken is a signed access token with its token_type and lifetime.
type issuedToken struct {
	token     string
	tokenType string
	ttl       time.Duration
}

// issueAccessToken signs an RFC 9068 access token for the request's client
// and sess. With a DPoP proof it is bound to the proof's key (cnf.jkt) and
// its token_type is DPoP (RFC 9449 §5); every grant goes through here, so
// none can forget the binding.
func (s *Server) issueAccessToken(ctx context.Context, req grantRequest, sess session) (issuedToken, error) {
	client, now := req.client, req.now
	ttl := effective(client.AccessTokenTTL, s.cfg.AccessTokenTTL)
	aud := s.cfg.Audience
	if len(client.Audience) > 0 {
		aud = client.Audience
	}
	claims := accessTokenClaims{
		Issuer:    s.cfg.Issuer,
		Subject:   sess.userID,
		Audience:  aud,
		ExpiresAt: now.Add(ttl).Unix(),
		IssuedAt:  now.Unix(),
		NotBefore: now.Unix(),
		JWTID:     rand.Text(),
		ClientID:  client.ID,
		Scope:     joinScope(sess.scope),
		SessionID: sess.familyID,
		Username:  sess.username,
	}
	tokenType := tokenTypeBearer
	if jkt := req.jkt(); jkt != "" {
		claims.Cnf, tokenType = &confirmation{JKT: jkt}, tokenTypeDPoP
	}
	var attrs []attributeClaim
	claims.Roles, attrs = profileClaims(client, sess)
	payload, err := json.Marshal(claims)
	if err != nil {
		return issuedToken{}, fmt.Errorf("tokenserver: encode claims: %w", err)
	}
	if payload, err = appendClaims(payload, attrs); err != nil {
		return issuedToken{}, err
	}
	_, span := s.startSpan(ctx, "sign access token")
	token, err := s.cfg.Keys.Sign(payload)
	if err != nil {
		span.SetStatus(codes.Error, "sign failed")
	}
	span.End()
	if err != nil {
		return issuedToken{}, fmt.Errorf("tokenserver: sign access token: %w", err)
	}
	return issuedToken{token: token, tokenType: tokenType, ttl: ttl}, nil
}

// refreshTokenBytes is the entropy of a refresh token: 256 bits, well
// above what RFC 9700 §4.14 and RFC 6749 §10.10 ask for.
const refreshTokenBytes = 32

// newRefreshToken returns a fresh opaque refresh token and the hash that is
// stored instead of it (RFC 9700 §4.14: never store it in plain text).
func newRefreshToken() (token, hash string) {
	var b [refreshTokenBytes]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go ≥ 1.24).
	token = base64.RawURLEncoding.EncodeToString(b[:])
	return token, hashRefreshToken(token)
}

// hashRefreshToken is store.RefreshToken.Hash: lowercase hex SHA-256. The
// token has 256 bits of entropy, so a fast hash suffices.
func hashRefreshToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// expiresIn is the §5.1 expires_in in whole seconds.
func expiresIn(ttl time.Duration) int64 {
	return int64(ttl / time.Second)
}
