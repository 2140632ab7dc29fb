package tokenserver

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"slices"

	"github.com/tokenserver/tokenserver/audit"
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
	// An attempt is reserved before any hashing, so that a blocked caller
	// costs no CPU, and in the same atomic step as the check, so that
	// concurrent guesses cannot all pass before any is counted.
	throttleKeys := s.loginThrottleKeys(username, req)
	wait, err := s.cfg.Throttle.Reserve(ctx, throttleKeys)
	if err != nil {
		// Fail closed: without the counter we cannot bound guessing.
		return tokenResponse{}, storeErr("throttle reserve", err)
	}
	if wait > 0 {
		s.emit(ctx, audit.Event{Type: audit.LoginThrottled, ClientID: req.client.ID, ClientIP: ipString(req.clientIP),
			Limit: s.throttledLimit(ctx, throttleKeys)})
		return tokenResponse{}, &Error{Code: CodeTemporarilyUnavailable,
			Description: "too many failed login attempts; retry later", retryAfter: wait, throttled: true}
	}

	user, failure, err := s.checkPassword(ctx, username, pw)
	if errors.Is(err, &Error{Code: CodeInvalidGrant}) {
		// The reservation stays: it is this failure's count, kept even if
		// the caller hangs up (a guess whose answer was never read still
		// counts).
		s.emitLoginFailed(ctx, req, failure)
		return tokenResponse{}, err
	}
	// Anything else did not fail a guess: the password was right, or it was
	// never checked (hasher busy, store down, caller gone). The reservation
	// is given back so it neither counts as a failure nor leaks.
	s.releaseLoginAttempt(ctx, throttleKeys)
	if err != nil {
		return tokenResponse{}, err
	}

	// §3.3: without a scope parameter the client gets its registered scope.
	scope := req.scope
	if scope == nil {
		scope = req.client.Scopes
	}
	resp, err := s.issueLoginTokens(ctx, req, user, scope)
	if errors.Is(err, &Error{Code: CodeInvalidGrant}) {
		s.emitLoginFailed(ctx, req, loginFailure{reason: audit.ReasonCredentialsChanged, subject: user.ID})
	}
	return resp, err
}

// throttledLimit says which limit refused a login, for login.throttled:
// LoginThrottle.Reserve reports only the wait. It asks again for the
// per-IP key alone (keys[1]): if that reservation succeeds, the per-IP
// limit was not reached, so the per-user one was, and the probe is given
// back at once. While the probe holds its count, a concurrent login from
// the same IP one short of the IP limit may be refused; that errs towards
// refusing, and happens only to a client already being throttled. An error
// reports the user limit, the narrower claim.
func (s *Server) throttledLimit(ctx context.Context, keys []store.ThrottleKey) string {
	ipKey := keys[1:]
	wait, err := s.cfg.Throttle.Reserve(ctx, ipKey)
	switch {
	case err != nil:
		return audit.LimitUser
	case wait > 0:
		return audit.LimitIP
	}
	s.releaseLoginAttempt(ctx, ipKey)
	return audit.LimitUser
}

// releaseLoginAttempt gives back a throttle reservation, even if the caller
// has hung up. A failure is logged and leaves the reservation until its
// window ends, which errs towards refusing.
func (s *Server) releaseLoginAttempt(ctx context.Context, keys []store.ThrottleKey) {
	rctx, cancel := detached(ctx)
	defer cancel()
	if err := s.cfg.Throttle.Release(rctx, keys); err != nil {
		s.logger.WarnContext(ctx, "tokenserver: releasing login throttle reservation", "error", err)
	}
}

// checkPassword verifies the credentials and returns the user. Unknown,
// disabled and wrong-password users all cost one password verification and
// all get errBadCredentials; the loginFailure says which it was (for the
// audit log only).
func (s *Server) checkPassword(ctx context.Context, username, pw string) (store.User, loginFailure, error) {
	if len(pw) > password.MaxPasswordBytes {
		// Refused without hashing: hashing megabytes is a DoS vector. The
		// length is the caller's own knowledge, so this leaks nothing. The
		// user is not looked up, so the reason cannot say more.
		return store.User{}, loginFailure{reason: audit.ReasonInvalidCredentials}, errBadCredentials()
	}
	user, err := s.cfg.Users.UserByName(ctx, username)
	switch {
	case errors.Is(err, store.ErrNotFound):
		if err := s.hasher.VerifyDummy(ctx, pw); err != nil {
			return store.User{}, loginFailure{reason: audit.ReasonUnknownUser}, passwordErr(err)
		}
		return store.User{}, loginFailure{reason: audit.ReasonUnknownUser}, errBadCredentials()
	case err != nil:
		return store.User{}, loginFailure{}, storeErr("user lookup", err)
	}
	wrong := loginFailure{reason: audit.ReasonWrongPassword, subject: user.ID}

	ok, needsRehash, err := s.hasher.Verify(ctx, pw, user.PasswordHash)
	switch {
	case errors.Is(err, password.ErrMalformed):
		// A broken stored hash is an operator problem; the user sees the
		// usual answer, at the usual cost.
		s.logger.ErrorContext(ctx, "tokenserver: stored password hash is malformed", "user_id", user.ID)
		if err := s.hasher.VerifyDummy(ctx, pw); err != nil {
			return store.User{}, wrong, passwordErr(err)
		}
		return store.User{}, wrong, errBadCredentials()
	case err != nil:
		return store.User{}, wrong, passwordErr(err)
	}
	// A disabled user still paid for Verify above, so the answer's timing
	// does not reveal the flag.
	switch {
	case !ok:
		return store.User{}, wrong, errBadCredentials()
	case user.Disabled:
		return store.User{}, loginFailure{reason: audit.ReasonDisabled, subject: user.ID}, errBadCredentials()
	}
	if needsRehash {
		s.upgradePasswordHash(ctx, user, pw)
	}
	return user, loginFailure{}, nil
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
	sess := session{userID: user.ID, username: user.Username, scope: scope,
		roles: user.Roles, attributes: user.Attributes}
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
			// The store refuses the family if the user's credentials
			// changed since checkPassword read them.
			UserEpoch: user.CredentialEpoch,
		}
		// RFC 9449 §5: a public client's refresh tokens are bound to the
		// login proof's key (a confidential client's are bound to the
		// client's own credentials already).
		if req.client.Public() {
			family.DPoPJKT = req.jkt()
		}
		sess.familyID = family.ID
	}
	access, err := s.issueAccessToken(ctx, req, sess)
	if err != nil {
		return tokenResponse{}, err
	}
	resp := tokenResponse{
		AccessToken: access.token,
		TokenType:   access.tokenType,
		ExpiresIn:   expiresIn(access.ttl),
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
		case errors.Is(err, store.ErrRevoked):
			// The password was changed, or the user disabled, while this
			// login checked the old credentials: it must not yield tokens.
			return tokenResponse{}, errBadCredentials()
		case err != nil:
			return tokenResponse{}, storeErr("create refresh family", err)
		}
		resp.RefreshToken = token
		s.emitLoginSucceeded(ctx, req, user, family.ID)
		return resp, nil
	}
	if err := s.confirmCredentials(ctx, user); err != nil {
		return tokenResponse{}, err
	}
	s.emitLoginSucceeded(ctx, req, user, "")
	return resp, nil
}

// confirmCredentials re-reads the user after the access token was signed,
// for a login without a session (CreateFamily does this check otherwise):
// if the credentials changed since checkPassword read them, the login
// fails. If they had not changed by this read, the token's iat (the
// request's start) precedes any later change, whose `sub` revocation then
// denies it.
func (s *Server) confirmCredentials(ctx context.Context, read store.User) error {
	now, err := s.cfg.Users.UserByID(ctx, read.ID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return errBadCredentials()
	case err != nil:
		return storeErr("user lookup", err)
	case now.Disabled || now.CredentialEpoch != read.CredentialEpoch:
		return errBadCredentials()
	}
	return nil
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

// emitLoginSucceeded reports a login; familyID is empty when no session
// was started (the client may not refresh).
func (s *Server) emitLoginSucceeded(ctx context.Context, req grantRequest, user store.User, familyID string) {
	s.emit(ctx, audit.Event{Type: audit.LoginSucceeded, ClientID: req.client.ID, Subject: user.ID,
		ClientIP: ipString(req.clientIP), FamilyID: familyID})
}
