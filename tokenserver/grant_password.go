package tokenserver

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"slices"

	"github.com/tokenserver/tokenserver/store"
	"github.com/tokenserver/tokenserver/tokenserver/password"
)

// errBadCredentials is the single answer for an unknown user, a disabled
// user and a wrong password, so that none can be told apart.
func errBadCredentials() *Error {
	return newError(CodeInvalidGrant, "invalid username or password", nil)
}

// passwordGrant is the resource owner password credentials grant (RFC 6749
// §4.3). The client is already authenticated (§4.3.2 MUST).
func (s *Server) passwordGrant(ctx context.Context, req grantRequest) (tokenResponse, error) {
	username, err := req.form.require("username")
	if err != nil {
		return tokenResponse{}, err
	}
	if username, err = loginUsername(username); err != nil {
		return tokenResponse{}, err
	}
	pw, err := req.form.require("password")
	if err != nil {
		return tokenResponse{}, err
	}

	// §4.3.2: the server MUST protect the endpoint against brute force.
	// The throttle is checked before any hashing so that a blocked caller
	// costs no CPU.
	throttleKeys := s.loginThrottleKeys(username, req)
	wait, err := s.cfg.Throttle.Check(ctx, throttleKeys)
	if err != nil {
		// Fail closed: without the counter we cannot bound guessing.
		return tokenResponse{}, storeErr("throttle check", err)
	}
	if wait > 0 {
		return tokenResponse{}, &Error{Code: CodeTemporarilyUnavailable,
			Description: "too many failed login attempts; retry later", retryAfter: wait, throttled: true}
	}

	user, err := s.checkPassword(ctx, username, pw)
	if err != nil {
		if errors.Is(err, &Error{Code: CodeInvalidGrant}) {
			// Recorded even if the caller hangs up: a guess whose answer was
			// never read still counts.
			fctx, cancel := detached(ctx)
			defer cancel()
			if ferr := s.cfg.Throttle.Fail(fctx, throttleKeys); ferr != nil {
				s.logger.WarnContext(ctx, "tokenserver: recording failed login", "error", ferr)
			}
		}
		return tokenResponse{}, err
	}

	// §3.3: without a scope parameter the client gets its registered scope.
	scope := req.scope
	if scope == nil {
		scope = req.client.Scopes
	}
	return s.issueLoginTokens(ctx, req, user, scope)
}

// checkPassword verifies the credentials and returns the user. Unknown,
// disabled and wrong-password users all cost one password verification and
// all get errBadCredentials.
func (s *Server) checkPassword(ctx context.Context, username, pw string) (store.User, error) {
	if len(pw) > password.MaxPasswordBytes {
		// Refused without hashing: hashing megabytes is a DoS vector. The
		// length is the caller's own knowledge, so this leaks nothing.
		return store.User{}, errBadCredentials()
	}
	user, err := s.cfg.Users.UserByName(ctx, username)
	switch {
	case errors.Is(err, store.ErrNotFound):
		if err := s.hasher.VerifyDummy(ctx, pw); err != nil {
			return store.User{}, passwordErr(err)
		}
		return store.User{}, errBadCredentials()
	case err != nil:
		return store.User{}, storeErr("user lookup", err)
	}

	ok, needsRehash, err := s.hasher.Verify(ctx, pw, user.PasswordHash)
	switch {
	case errors.Is(err, password.ErrMalformed):
		// A broken stored hash is an operator problem; the user sees the
		// usual answer, at the usual cost.
		s.logger.ErrorContext(ctx, "tokenserver: stored password hash is malformed", "user_id", user.ID)
		if err := s.hasher.VerifyDummy(ctx, pw); err != nil {
			return store.User{}, passwordErr(err)
		}
		return store.User{}, errBadCredentials()
	case err != nil:
		return store.User{}, passwordErr(err)
	}
	// A disabled user still paid for Verify above, so the answer's timing
	// does not reveal the flag.
	if !ok || user.Disabled {
		return store.User{}, errBadCredentials()
	}
	if needsRehash {
		s.upgradePasswordHash(ctx, user, pw)
	}
	return user, nil
}

// passwordErr maps hasher errors: ErrTooLong is a bad credential, anything
// else (ErrBusy → 503, context errors) passes through.
func passwordErr(err error) error {
	if errors.Is(err, password.ErrTooLong) {
		return errBadCredentials()
	}
	return err
}

// upgradePasswordHash re-hashes a verified password with the current
// parameters. It is best effort: the login succeeds regardless, and a
// concurrent password change (ErrConflict) wins.
func (s *Server) upgradePasswordHash(ctx context.Context, user store.User, pw string) {
	newHash, err := s.hasher.Hash(ctx, pw)
	if err != nil {
		s.logger.WarnContext(ctx, "tokenserver: password rehash skipped", "user_id", user.ID, "error", err)
		return
	}
	err = s.cfg.Users.UpgradePasswordHash(ctx, user.ID, user.PasswordHash, newHash)
	if err != nil && !errors.Is(err, store.ErrConflict) {
		s.logger.WarnContext(ctx, "tokenserver: password hash upgrade failed", "user_id", user.ID, "error", err)
	}
}

// loginThrottleKeys are the counters of §4.3.2 brute-force protection: one
// per (username, client IP) to stop guessing one account, one per client IP
// to stop spraying many. The username is hashed so that keys stay short and
// no username is stored in the throttle backend; it is already normalized
// (loginUsername), so every spelling of one name shares one counter.
func (s *Server) loginThrottleKeys(username string, req grantRequest) []store.ThrottleKey {
	ip := ipThrottleKey(req.clientIP)
	sum := sha256.Sum256([]byte(username))
	userKey := hex.EncodeToString(sum[:16])
	l := s.cfg.ThrottleLimits
	return []store.ThrottleKey{
		{Key: "login:user:" + userKey + ":" + ip, Limit: l.UserFailures, Window: l.Window},
		{Key: "login:ip:" + ip, Limit: l.IPFailures, Window: l.Window},
	}
}

// issueLoginTokens starts a session: a refresh-token family (when the
// client may refresh) and the first access token. The access token is
// signed before the family is stored, so a signing failure stores nothing.
func (s *Server) issueLoginTokens(ctx context.Context, req grantRequest, user store.User, scope []string) (tokenResponse, error) {
	sess := session{userID: user.ID, username: user.Username, scope: scope}
	// A refresh token is useless to a client that may not use the
	// refresh_token grant, so none is issued (RFC 6749 §5.1: OPTIONAL).
	withRefresh := slices.Contains(req.client.Grants, grantRefreshToken)
	var family store.RefreshFamily
	if withRefresh {
		family = store.RefreshFamily{
			ID:        rand.Text(),
			ClientID:  req.client.ID,
			UserID:    user.ID,
			Username:  user.Username,
			Scope:     joinScope(scope),
			CreatedAt: req.now,
			ExpiresAt: req.now.Add(effective(req.client.RefreshAbsoluteTTL, s.cfg.RefreshAbsoluteTTL)),
		}
		sess.familyID = family.ID
	}
	access, ttl, err := s.issueAccessToken(req.client, sess, req.now)
	if err != nil {
		return tokenResponse{}, err
	}
	resp := tokenResponse{
		AccessToken: access,
		TokenType:   "Bearer",
		ExpiresIn:   expiresIn(ttl),
		Scope:       joinScope(scope),
	}
	if withRefresh {
		token, hash := newRefreshToken()
		first := store.RefreshToken{
			Hash:          hash,
			FamilyID:      family.ID,
			IssuedAt:      req.now,
			IdleExpiresAt: req.now.Add(effective(req.client.RefreshIdleTTL, s.cfg.RefreshIdleTTL)),
		}
		err := s.cfg.Refresh.CreateFamily(ctx, family, first)
		switch {
		case errors.Is(err, store.ErrNotFound):
			return tokenResponse{}, s.sessionOwnerGone(ctx, req.client.ID)
		case err != nil:
			return tokenResponse{}, storeErr("create refresh family", err)
		}
		resp.RefreshToken = token
	}
	return resp, nil
}

// sessionOwnerGone answers a CreateFamily that found its client or user
// deleted after the request was authenticated: the client registration may
// have come from the cache (Config.ClientCacheTTL), and a user may be
// deleted during the password check. The cache entry is dropped, and the
// store says which one is gone: a deleted client fails authentication
// (invalid_client), a deleted user is bad credentials. Nothing was stored.
func (s *Server) sessionOwnerGone(ctx context.Context, clientID string) error {
	s.clients.forget(clientID)
	_, err := s.cfg.Clients.ClientByID(ctx, clientID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return errInvalidClient()
	case err != nil:
		return storeErr("client lookup", err)
	}
	return errBadCredentials()
}
