package tokenserver

import (
	"context"
	"errors"
	"strings"

	"github.com/tokenserver/tokenserver/audit"
	"github.com/tokenserver/tokenserver/sessions"
	"github.com/tokenserver/tokenserver/store"
)

// errBadRefreshToken is the one answer for an unknown, foreign, expired,
// revoked or reused refresh token (RFC 6749 §5.2 invalid_grant).
func errBadRefreshToken() *Error {
	return newError(CodeInvalidGrant, "invalid refresh token", nil)
}

// refreshGrant is the refresh_token grant (RFC 6749 §6) with rotation
// (RFC 9700 §4.14.2) in one store call: Rotate checks the client binding,
// the requested scope, the family, the user, expiry and reuse atomically,
// so a refresh is one database round trip. Every refusal except reuse
// changes nothing; reuse revokes the family, as it must.
//
// The access token is signed after the rotation, because its subject comes
// from the family. Signing fails only when the key set is broken; the
// client then gets a server_error for a consumed token (and may retry
// within RefreshReuseLeeway when one is configured).
func (s *Server) refreshGrant(ctx context.Context, req grantRequest) (tokenResponse, error) {
	presented, err := req.form.require("refresh_token")
	if err != nil {
		return tokenResponse{}, err
	}

	newToken, newHash := newRefreshToken()
	family, err := s.cfg.Refresh.Rotate(ctx, store.RotateRequest{
		OldHash: hashRefreshToken(presented),
		// §6: the token MUST be bound to the client; another client's
		// token is ErrNotFound, like an unknown one.
		ClientID: req.client.ID,
		New: store.RefreshToken{
			Hash:          newHash,
			IssuedAt:      req.now,
			IdleExpiresAt: req.now.Add(effective(req.client.RefreshIdleTTL, s.cfg.RefreshIdleTTL)),
		},
		Now: req.now,
		// §6: the requested scope MUST NOT include any scope not originally
		// granted (nil: no scope parameter).
		Scope:       req.scope,
		ReuseLeeway: s.cfg.RefreshReuseLeeway,
		// RFC 9449 §5: a bound family rotates only with a proof by its key.
		DPoPJKT: req.jkt(),
	})
	switch {
	case errors.Is(err, store.ErrKeyBinding):
		// RFC 9449 §5: invalid_grant; nothing changed, so a thief without
		// the key cannot even end the session.
		return tokenResponse{}, newError(CodeInvalidGrant, "refresh token is bound to a DPoP key; send a proof by that key", nil)
	case errors.Is(err, store.ErrScope):
		return tokenResponse{}, newError(CodeInvalidScope, "requested scope exceeds the granted scope", nil)
	case errors.Is(err, store.ErrReused):
		s.emit(ctx, audit.Event{Type: audit.RefreshReuseDetected, ClientID: req.client.ID, Subject: family.UserID,
			ClientIP: ipString(req.clientIP), FamilyID: family.ID})
		s.revokeReusedFamily(ctx, req, family)
		return tokenResponse{}, errBadRefreshToken()
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrExpired), errors.Is(err, store.ErrRevoked):
		return tokenResponse{}, errBadRefreshToken()
	case err != nil:
		return tokenResponse{}, storeErr("refresh rotate", err)
	}

	// The access token gets the requested narrowing, or without a scope
	// parameter the original scope narrowed to what the client is still
	// registered for; the new refresh token keeps the family's scope.
	accessScope := req.scope
	if accessScope == nil {
		accessScope = intersect(strings.Fields(family.Scope), req.client.Scopes)
	}
	// The user's roles and attributes as they are now: Rotate read them
	// in the same statement, so a role granted or taken away since the
	// login shows in this token (a profile change ends no session).
	sess := session{userID: family.UserID, username: family.Username, familyID: family.ID, scope: accessScope,
		roles: family.UserRoles, attributes: family.UserAttributes}
	access, err := s.issueAccessToken(ctx, req, sess)
	if err != nil {
		return tokenResponse{}, err
	}
	s.emit(ctx, audit.Event{Type: audit.TokenRefreshed, ClientID: req.client.ID, Subject: family.UserID,
		ClientIP: ipString(req.clientIP), FamilyID: family.ID})
	return tokenResponse{
		AccessToken:  access.token,
		TokenType:    access.tokenType,
		ExpiresIn:    expiresIn(access.ttl),
		RefreshToken: newToken,
		Scope:        strings.Join(accessScope, " "),
	}, nil
}

// revokeReusedFamily makes the access tokens of a family whose refresh
// token was replayed die too (RFC 9700 §4.14.2: the store has already
// revoked the family's refresh tokens). The entry outlives every access
// token the family can have.
func (s *Server) revokeReusedFamily(ctx context.Context, req grantRequest, family store.RefreshFamily) {
	if family.ID == "" {
		// The contract returns the family with ErrReused; without it there
		// is no sid to deny. Say so rather than record an empty entry.
		s.logger.ErrorContext(ctx, "tokenserver: refresh token reuse reported without its session",
			"client_id", req.client.ID)
		return
	}
	// The revocation must land even if the caller (perhaps the thief) hangs
	// up now.
	ctx, cancel := detached(ctx)
	defer cancel()
	s.logger.WarnContext(ctx, "tokenserver: refresh token reuse; session revoked",
		"sid", family.ID, "client_id", req.client.ID, "user_id", family.UserID)
	if err := s.withSessions(func(ss *sessions.Service) error {
		return ss.RevokeSession(ctx, family.ID, s.maxAccessTokenTTL(req.client), audit.CauseReuse)
	}); err != nil {
		s.logger.ErrorContext(ctx, "tokenserver: recording session revocation", "sid", family.ID, "error", err)
	}
}
