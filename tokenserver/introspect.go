package tokenserver

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/tokenserver/tokenserver/audit"
	"github.com/tokenserver/tokenserver/store"
)

// introspection is the RFC 7662 §2.2 response. Only active answers carry
// anything but "active".
type introspection struct {
	Active bool   `json:"active"`
	Scope  string `json:"scope,omitempty"`
	// ClientID is the client the token was issued to.
	ClientID string `json:"client_id,omitempty"`
	Username string `json:"username,omitempty"`
	// TokenType is, as §2.2 defines it, the RFC 6749 §5.1 token type of an
	// access token ("Bearer"); refresh tokens have none.
	TokenType string `json:"token_type,omitempty"`
	// TokenUse says which kind of token this is, in the vocabulary of
	// token_type_hint (RFC 7009 §2.1): "access_token" or "refresh_token".
	// A service-specific member as §2.2 allows.
	TokenUse  string   `json:"token_use,omitempty"`
	ExpiresAt int64    `json:"exp,omitempty"`
	IssuedAt  int64    `json:"iat,omitempty"`
	NotBefore int64    `json:"nbf,omitempty"`
	Subject   string   `json:"sub,omitempty"`
	Audience  audience `json:"aud,omitempty"`
	Issuer    string   `json:"iss,omitempty"`
	JWTID     string   `json:"jti,omitempty"`
	SessionID string   `json:"sid,omitempty"`
	// Roles is the access token's `roles` claim (RFC 9068 §7.2.1.1), when
	// it has one: a member §2.2 allows.
	Roles []string `json:"roles,omitempty"`
	// Cnf is the key a DPoP-bound token is bound to (RFC 9449 §6.2; for a
	// refresh token, the key its family is bound to).
	Cnf *confirmation `json:"cnf,omitempty"`
}

// inactiveJSON is every negative answer. RFC 7662 §2.2: for an inactive
// token the server SHOULD NOT include anything else, so the caller learns
// nothing about why (expired, revoked, unknown, another client's).
const inactiveJSON = `{"active":false}`

// handleIntrospect is the introspection endpoint (RFC 7662 §2).
//
// §2.1 requires the caller to be authorized, to stop token scanning. We
// accept any confidential client that authenticates (client_secret_basic
// or client_secret_post): resource servers are registered as confidential
// clients. A public client has no credentials to prove who it is, so it
// gets the same invalid_client as any failed authentication (401 with
// WWW-Authenticate when it used the Authorization header, otherwise 400,
// as at the token endpoint).
//
// Any client may introspect an access token (a resource server is not the
// client the token was issued to); a refresh token is active only to the
// client it was issued to.
func (s *Server) handleIntrospect(w http.ResponseWriter, r *http.Request) error {
	f, err := parseForm(w, r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	client, err := s.authenticateConfidentialClient(ctx, r, f)
	if err != nil {
		return err
	}
	tok, err := presentedTokenFrom(f)
	if err != nil {
		return err
	}
	resp, err := s.introspect(ctx, client, tok, s.now())
	if err != nil {
		return err
	}
	var body []byte
	if resp.Active {
		if body, err = json.Marshal(resp); err != nil {
			return err
		}
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	setNoStore(h)
	w.WriteHeader(http.StatusOK)
	if resp.Active {
		_, _ = w.Write(body)
	} else {
		_, _ = io.WriteString(w, inactiveJSON)
	}
	return nil
}

// authenticateConfidentialClient authenticates the client and refuses
// public clients.
func (s *Server) authenticateConfidentialClient(ctx context.Context, r *http.Request, f form) (store.Client, error) {
	client, err := s.authenticateClient(ctx, r, f)
	if err != nil {
		return store.Client{}, err
	}
	if client.Public() {
		s.emitClientAuthFailed(ctx, r, audit.ReasonPublicClient, &client)
		return store.Client{}, errInvalidClient()
	}
	return client, nil
}

// introspect tries the token types in the hinted order (RFC 7662 §2.1:
// the search MUST extend to every type the hint does not find).
func (s *Server) introspect(ctx context.Context, client store.Client, tok presentedToken, now time.Time) (introspection, error) {
	tries := [2]func(context.Context, store.Client, string, time.Time) (introspection, bool, error){
		s.introspectAccessToken, s.introspectRefreshToken,
	}
	if tok.refreshFirst {
		tries[0], tries[1] = tries[1], tries[0]
	}
	for _, try := range tries {
		if resp, recognised, err := try(ctx, client, tok.value, now); recognised || err != nil {
			return resp, err
		}
	}
	return introspection{}, nil
}

// introspectAccessToken answers for one of our access tokens: one
// signature check, one decode, one denylist query. recognised is true when
// the signature is ours.
func (s *Server) introspectAccessToken(ctx context.Context, _ store.Client, token string, now time.Time) (resp introspection, recognised bool, err error) {
	c, ok := s.verifyAccessToken(token)
	if !ok {
		return introspection{}, false, nil
	}
	if !c.currentAt(now) {
		return introspection{}, true, nil
	}
	revoked, err := s.cfg.Revocations.IsRevoked(ctx, store.RevocationQuery{
		JTI:      c.JWTID,
		SID:      c.SessionID,
		Sub:      c.Subject,
		IssuedAt: time.Unix(c.IssuedAt, 0),
		// An emergency key rotation revokes the key's tokens by kid, so
		// they are refused here even before this instance reloads its keys.
		KID: headerKID(token),
	}, now)
	if err != nil {
		// Never active:true when the denylist cannot be read (the tiered
		// store already fell back from Redis to PostgreSQL): a revoked
		// token must not pass for live. 503 tells the caller to retry.
		return introspection{}, true, &Error{Code: CodeTemporarilyUnavailable,
			Description: "revocation status unavailable; retry later",
			cause:       storeErr("introspect: revocation check", err), retryAfter: retryAfterUnavailable}
	}
	if revoked {
		return introspection{}, true, nil
	}
	return introspection{
		Active:    true,
		Scope:     c.Scope,
		ClientID:  c.ClientID,
		Username:  c.Username,
		TokenType: accessTokenType(c.Cnf),
		TokenUse:  hintAccessToken,
		ExpiresAt: c.ExpiresAt,
		IssuedAt:  c.IssuedAt,
		NotBefore: c.NotBefore,
		Subject:   c.Subject,
		Audience:  c.Audience,
		Issuer:    c.Issuer,
		JWTID:     c.JWTID,
		SessionID: c.SessionID,
		Roles:     c.Roles,
		Cnf:       c.Cnf,
	}, true, nil
}

// introspectRefreshToken answers for a refresh token: active only to its
// own client, while neither it nor its family is expired, consumed or
// revoked and its user may still log in — exactly when the refresh grant
// would accept it. recognised is true when the token is known.
func (s *Server) introspectRefreshToken(ctx context.Context, client store.Client, token string, now time.Time) (resp introspection, recognised bool, err error) {
	if !looksLikeRefreshToken(token) {
		return introspection{}, false, nil
	}
	rt, family, err := s.cfg.Refresh.Lookup(ctx, hashRefreshToken(token))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return introspection{}, false, nil
	case err != nil:
		return introspection{}, true, storeErr("introspect: refresh lookup", err)
	}
	if family.ClientID != client.ID || !family.RevokedAt.IsZero() || !rt.ConsumedAt.IsZero() ||
		refreshExpired(rt, family, now) {
		return introspection{}, true, nil
	}
	user, err := s.cfg.Users.UserByID(ctx, family.UserID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return introspection{}, true, nil
	case err != nil:
		return introspection{}, true, storeErr("introspect: user lookup", err)
	case user.Disabled, user.CredentialEpoch != family.UserEpoch:
		// Exactly what Rotate refuses: a disabled user, or credentials
		// changed since the session's login.
		return introspection{}, true, nil
	}
	return introspection{
		Active:    true,
		Scope:     family.Scope,
		ClientID:  family.ClientID,
		Username:  user.Username,
		TokenUse:  hintRefreshToken,
		ExpiresAt: refreshExpiry(rt, family).Unix(),
		IssuedAt:  rt.IssuedAt.Unix(),
		Subject:   family.UserID,
		Issuer:    s.cfg.Issuer,
		SessionID: family.ID,
		Cnf:       familyConfirmation(family),
	}, true, nil
}

// accessTokenType is the token_type of an access token: DPoP when bound
// (RFC 9449 §6.2), else Bearer.
func accessTokenType(cnf *confirmation) string {
	if cnf != nil {
		return tokenTypeDPoP
	}
	return tokenTypeBearer
}

// familyConfirmation is cnf of a refresh token whose family is bound.
func familyConfirmation(f store.RefreshFamily) *confirmation {
	if f.DPoPJKT == "" {
		return nil
	}
	return &confirmation{JKT: f.DPoPJKT}
}
