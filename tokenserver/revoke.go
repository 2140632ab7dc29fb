package tokenserver

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/tokenserver/tokenserver/audit"
	"github.com/tokenserver/tokenserver/sessions"
	"github.com/tokenserver/tokenserver/store"
)

// handleRevoke is the revocation endpoint (RFC 7009 §2). The client
// authenticates exactly as at the token endpoint (§2.1: RFC 6749 §2.3;
// public clients present their client_id), so a client can only ever
// revoke its own tokens.
//
// §2.2: the answer is 200 whether or not the token was valid, known or
// already revoked. We also answer 200, doing nothing, for another
// client's token: §2.1 says such a request "is refused", but an error
// would confirm to the caller that the string is a live token of some
// other client, and a no-op revokes nothing it should not.
func (s *Server) handleRevoke(w http.ResponseWriter, r *http.Request) error {
	f, err := parseForm(w, r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	client, err := s.authenticateClient(ctx, r, f)
	if err != nil {
		return err
	}
	tok, err := presentedTokenFrom(f)
	if err != nil {
		return err
	}
	if err := s.revoke(ctx, client, tok, s.now()); err != nil {
		return err
	}
	setNoStore(w.Header())
	w.WriteHeader(http.StatusOK)
	return nil
}

// revoke tries the token types in the hinted order; the first that
// recognises the token decides.
func (s *Server) revoke(ctx context.Context, client store.Client, tok presentedToken, now time.Time) error {
	tries := [2]func(context.Context, store.Client, string, time.Time) (bool, error){
		s.revokeAccessToken, s.revokeRefreshToken,
	}
	if tok.refreshFirst {
		tries[0], tries[1] = tries[1], tries[0]
	}
	for _, try := range tries {
		if recognised, err := try(ctx, client, tok.value, now); recognised || err != nil {
			return err
		}
	}
	return nil // §2.2: an invalid token is not an error.
}

// revokeAccessToken denylists the token's jti until the token expires
// (RFC 7009 §2: the server SHOULD support revoking access tokens).
// recognised is true when token is one of our access tokens.
func (s *Server) revokeAccessToken(ctx context.Context, client store.Client, token string, now time.Time) (recognised bool, err error) {
	claims, ok := s.verifyAccessToken(token)
	if !ok {
		return false, nil
	}
	if claims.ClientID != client.ID || claims.expired(now) {
		return true, nil
	}
	ctx, cancel := detached(ctx)
	defer cancel()
	if err := s.withSessions(func(ss *sessions.Service) error {
		return ss.RevokeAccessToken(ctx, claims.JWTID, time.Unix(claims.ExpiresAt, 0))
	}); err != nil {
		return true, storeErr("revoke: access token", err)
	}
	// client_credentials tokens have the client as subject, not a user.
	subject := claims.Subject
	if subject == client.ID {
		subject = ""
	}
	s.emit(ctx, audit.Event{Type: audit.TokenRevoked, ClientID: client.ID, Subject: subject,
		FamilyID: claims.SessionID, Kind: audit.KindAccess})
	return true, nil
}

// revokeRefreshToken revokes the token's whole family and, through a sid
// revocation, every access token issued from it (RFC 7009 §2.1: revoking
// a refresh token SHOULD also invalidate the access tokens of the same
// grant). recognised is true when the token is a known refresh token.
func (s *Server) revokeRefreshToken(ctx context.Context, client store.Client, token string, now time.Time) (recognised bool, err error) {
	if !looksLikeRefreshToken(token) {
		return false, nil
	}
	rt, family, err := s.cfg.Refresh.Lookup(ctx, hashRefreshToken(token))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return false, nil
	case err != nil:
		return false, storeErr("revoke: refresh lookup", err)
	}
	if family.ClientID != client.ID || refreshExpired(rt, family, now) {
		return true, nil
	}
	// A consumed (rotated) token still revokes its family: presenting it at
	// /token would trigger reuse detection and revoke the family anyway.
	// An already revoked family is revoked again on purpose: if an earlier
	// attempt revoked the family but failed to record the sid revocation,
	// the client's retry completes it. Both writes are idempotent.
	//
	// The writes must all land even if the client hangs up mid-way.
	ctx, cancel := detached(ctx)
	defer cancel()
	if err := s.withSessions(func(ss *sessions.Service) error {
		return ss.RevokeSession(ctx, family.ID, s.maxAccessTokenTTL(client), audit.CauseRevoke)
	}); err != nil {
		return true, storeErr("revoke: session", err)
	}
	s.emit(ctx, audit.Event{Type: audit.TokenRevoked, ClientID: client.ID, Subject: family.UserID,
		FamilyID: family.ID, Kind: audit.KindRefresh})
	return true, nil
}

// refreshExpired reports whether a refresh token can no longer be used
// because its idle or its family's absolute lifetime has passed.
func refreshExpired(rt store.RefreshToken, family store.RefreshFamily, now time.Time) bool {
	return !now.Before(refreshExpiry(rt, family))
}

// refreshExpiry is when the token stops being usable: its idle expiry,
// clamped to the family's absolute expiry.
func refreshExpiry(rt store.RefreshToken, family store.RefreshFamily) time.Time {
	if !family.ExpiresAt.IsZero() && family.ExpiresAt.Before(rt.IdleExpiresAt) {
		return family.ExpiresAt
	}
	return rt.IdleExpiresAt
}
