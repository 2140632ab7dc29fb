package tokenserver

import (
	"context"
	"errors"
	"strings"

	"github.com/tokenserver/tokenserver/store"
)

// errBadRefreshToken is the one answer for an unknown, foreign, expired,
// revoked or reused refresh token (RFC 6749 §5.2 invalid_grant).
func errBadRefreshToken() *Error {
	return newError(CodeInvalidGrant, "invalid refresh token", nil)
}

// refreshGrant is the refresh_token grant (RFC 6749 §6) with rotation
// (RFC 9700 §4.14.2). Every check that can fail runs before Rotate, so a
// rejected request changes nothing; only reuse detection revokes, as it
// must.
func (s *Server) refreshGrant(ctx context.Context, req grantRequest) (tokenResponse, error) {
	presented, err := req.form.require("refresh_token")
	if err != nil {
		return tokenResponse{}, err
	}
	oldHash := hashRefreshToken(presented)

	// Lookup changes nothing: it lets us check the client binding (§6: the
	// token MUST be bound to the client), the scope and the user before
	// consuming the token. Expiry, revocation and reuse are left to Rotate,
	// which decides them atomically.
	_, family, err := s.cfg.Refresh.Lookup(ctx, oldHash)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return tokenResponse{}, errBadRefreshToken()
	case err != nil:
		return tokenResponse{}, storeErr("refresh lookup", err)
	case family.ClientID != req.client.ID:
		// Another client's token looks exactly like an unknown one.
		return tokenResponse{}, errBadRefreshToken()
	}

	familyScope, err := parseScope(family.Scope)
	if err != nil {
		return tokenResponse{}, storeErr("stored family scope", err)
	}
	// §6: the requested scope MUST NOT include any scope not originally
	// granted. Without a scope parameter the access token gets the original
	// scope, narrowed to what the client is still registered for.
	var accessScope []string
	if req.scope != nil {
		if !subset(req.scope, familyScope) {
			return tokenResponse{}, newError(CodeInvalidScope, "requested scope exceeds the granted scope", nil)
		}
		accessScope = req.scope
	} else {
		accessScope = intersect(familyScope, req.client.Scopes)
	}

	user, err := s.cfg.Users.UserByID(ctx, family.UserID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return tokenResponse{}, errBadRefreshToken()
	case err != nil:
		return tokenResponse{}, storeErr("user lookup", err)
	case user.Disabled:
		return tokenResponse{}, errBadRefreshToken()
	}

	sess := session{userID: user.ID, username: user.Username, familyID: family.ID, scope: accessScope}
	access, ttl, err := s.issueAccessToken(req.client, sess, req.now)
	if err != nil {
		return tokenResponse{}, err
	}

	newToken, newHash := newRefreshToken()
	rotated, err := s.cfg.Refresh.Rotate(ctx, store.RotateRequest{
		OldHash:  oldHash,
		ClientID: req.client.ID,
		New: store.RefreshToken{
			Hash:          newHash,
			IssuedAt:      req.now,
			IdleExpiresAt: req.now.Add(effective(req.client.RefreshIdleTTL, s.cfg.RefreshIdleTTL)),
		},
		Now:         req.now,
		ReuseLeeway: s.cfg.RefreshReuseLeeway,
	})
	switch {
	case errors.Is(err, store.ErrReused):
		if rotated.ID == "" {
			rotated = family
		}
		s.revokeReusedFamily(ctx, req, rotated)
		return tokenResponse{}, errBadRefreshToken()
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrExpired), errors.Is(err, store.ErrRevoked):
		return tokenResponse{}, errBadRefreshToken()
	case err != nil:
		return tokenResponse{}, storeErr("refresh rotate", err)
	}

	return tokenResponse{
		AccessToken:  access,
		TokenType:    "Bearer",
		ExpiresIn:    expiresIn(ttl),
		RefreshToken: newToken,
		Scope:        strings.Join(accessScope, " "),
	}, nil
}

// revokeReusedFamily makes the access tokens of a family whose refresh
// token was replayed die too (RFC 9700 §4.14.2: the store has already
// revoked the family's refresh tokens). The entry outlives every access
// token the family can have.
func (s *Server) revokeReusedFamily(ctx context.Context, req grantRequest, family store.RefreshFamily) {
	rev := store.Revocation{
		Kind:      store.RevokeSID,
		Value:     family.ID,
		ExpiresAt: req.now.Add(s.maxAccessTokenTTL(req.client)),
		CreatedAt: req.now,
	}
	// The revocation must land even if the caller (perhaps the thief) hangs
	// up now.
	ctx, cancel := detached(ctx)
	defer cancel()
	s.logger.WarnContext(ctx, "tokenserver: refresh token reuse; session revoked",
		"sid", family.ID, "client_id", req.client.ID, "user_id", family.UserID)
	if err := s.cfg.Revocations.Revoke(ctx, rev); err != nil {
		s.logger.ErrorContext(ctx, "tokenserver: recording session revocation", "sid", family.ID, "error", err)
	}
	if err := s.cfg.Feed.Publish(ctx, rev); err != nil {
		s.logger.ErrorContext(ctx, "tokenserver: publishing session revocation", "sid", family.ID, "error", err)
	}
}
