package sessions

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tokenserver/tokenserver/audit"
	"github.com/tokenserver/tokenserver/store"
)

// RevokeAccessToken denies one access token by its jti until it expires at
// exp (RFC 7009 §2).
func (s *Service) RevokeAccessToken(ctx context.Context, jti string, exp time.Time) error {
	if jti == "" {
		return errors.New("sessions: revoke access token: empty jti")
	}
	now := s.now()
	return s.record(ctx, store.Revocation{Kind: store.RevokeJTI, Value: jti, ExpiresAt: exp.UTC(), CreatedAt: now})
}

// RevokeSession revokes a refresh-token family and denies every access token
// issued from it (a `sid` entry lasting at least atLeast and every known
// access-token lifetime). Both writes are idempotent, so revoking an already
// revoked family again completes an earlier attempt that failed half-way. An
// unknown family still gets its `sid` entry: its access tokens may outlive a
// purged family. cause says why, for the session.revoked audit event.
func (s *Service) RevokeSession(ctx context.Context, familyID string, atLeast time.Duration, cause audit.Cause) error {
	if familyID == "" {
		return errors.New("sessions: revoke session: empty family id")
	}
	now := s.now()
	if err := s.cfg.Refresh.RevokeFamily(ctx, familyID, now); err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("sessions: revoke session: %w", err)
	}
	ttl, err := s.LongestAccessTTL(ctx, atLeast)
	if err != nil {
		return err
	}
	if err := s.record(ctx, store.Revocation{Kind: store.RevokeSID, Value: familyID, ExpiresAt: now.Add(ttl), CreatedAt: now}); err != nil {
		return err
	}
	s.audit.Emit(ctx, audit.Event{Type: audit.SessionRevoked, Time: now, FamilyID: familyID, Cause: cause})
	if cause == audit.CauseAdmin {
		// An operator's explicit revocation of one session. A client's
		// (/revoke) is reported by the endpoint as kind refresh, and reuse
		// has its own event.
		s.audit.Emit(ctx, audit.Event{Type: audit.TokenRevoked, Time: now, FamilyID: familyID, Kind: audit.KindSession})
	}
	return nil
}

// EndUserSessions logs the user out everywhere: it moves the user's
// credential epoch and revokes every refresh-token family in one store step
// (so a login in flight cannot leave a session behind), then denies every
// access token issued to the user until now (a `sub` entry). It returns how
// many live sessions were revoked. An unknown user is no error. The audit
// events say cause admin: an operator logged the user out.
func (s *Service) EndUserSessions(ctx context.Context, userID string) (int, error) {
	return s.endUserSessions(ctx, userID, audit.CauseAdmin)
}

// endUserSessions is EndUserSessions reporting cause: one session.revoked
// per family, then one token.revoked of kind user for the `sub` entry.
func (s *Service) endUserSessions(ctx context.Context, userID string, cause audit.Cause) (int, error) {
	now := s.now()
	ids, err := s.cfg.Refresh.RevokeUserFamilies(ctx, userID, now)
	if err != nil {
		return 0, fmt.Errorf("sessions: end user sessions: %w", err)
	}
	ttl, err := s.LongestAccessTTL(ctx, 0)
	if err != nil {
		return 0, err
	}
	// The families are revoked already (the step above is one store
	// transaction), so their events are due even if the `sub` write fails.
	for _, id := range ids {
		s.audit.Emit(ctx, audit.Event{Type: audit.SessionRevoked, Time: now, Subject: userID, FamilyID: id, Cause: cause})
	}
	rev := store.Revocation{Kind: store.RevokeSub, Value: userID, NotBefore: now, ExpiresAt: now.Add(ttl), CreatedAt: now}
	if err := s.record(ctx, rev); err != nil {
		return 0, err
	}
	s.audit.Emit(ctx, audit.Event{Type: audit.TokenRevoked, Time: now, Subject: userID, Kind: audit.KindUser})
	return len(ids), nil
}

// SetPassword stores a new password hash and ends every session of the old
// password. The store moves the credential epoch with the hash, so even if
// the revocations below fail, no session of the old password can refresh.
func (s *Service) SetPassword(ctx context.Context, userID, hash string) (int, error) {
	if err := s.cfg.Users.SetPassword(ctx, userID, hash, s.now()); err != nil {
		return 0, fmt.Errorf("sessions: set password: %w", err)
	}
	return s.endUserSessions(ctx, userID, audit.CauseCredentialChange)
}

// SetDisabled disables or enables the user. Disabling ends every session;
// both move the credential epoch, so a login that read the user before a
// disable cannot leave a session behind after a quick enable. It returns
// how many sessions were revoked (zero when enabling).
func (s *Service) SetDisabled(ctx context.Context, userID string, disabled bool) (int, error) {
	if err := s.cfg.Users.SetDisabled(ctx, userID, disabled, s.now()); err != nil {
		return 0, fmt.Errorf("sessions: set disabled: %w", err)
	}
	if !disabled {
		return 0, nil
	}
	return s.endUserSessions(ctx, userID, audit.CauseCredentialChange)
}

// DeleteUser ends every session of the user, then deletes the user (and, in
// the store, the user's families). Access tokens already issued are denied
// by the `sub` entry, which outlives them.
func (s *Service) DeleteUser(ctx context.Context, userID string) error {
	if _, err := s.endUserSessions(ctx, userID, audit.CauseAdmin); err != nil {
		return err
	}
	if err := s.cfg.Users.DeleteUser(ctx, userID); err != nil {
		return fmt.Errorf("sessions: delete user: %w", err)
	}
	return nil
}

// keyRevocationMargin is added to a key revocation's lifetime for clock
// skew and for servers that reload their keys a little late.
const keyRevocationMargin = time.Minute

// RevokeSigningKey denies every access token signed by the key kid (a key an
// emergency rotation unpublished), so that resource servers refuse them
// within moments through the revocation feed rather than when their cached
// JWKS expires. Call it only after the rotation committed: revoking first
// would refuse the tokens of a key the servers still sign with. The entry
// outlives every token the key signed (every known access-token lifetime)
// and every cached JWKS that still lists the key (jwksMaxAge), plus a margin.
func (s *Service) RevokeSigningKey(ctx context.Context, kid string, jwksMaxAge time.Duration) error {
	if kid == "" {
		return errors.New("sessions: revoke signing key: empty kid")
	}
	now := s.now()
	ttl, err := s.LongestAccessTTL(ctx, 0)
	if err != nil {
		return err
	}
	rev := store.Revocation{Kind: store.RevokeKID, Value: kid,
		ExpiresAt: now.Add(max(ttl, jwksMaxAge) + keyRevocationMargin), CreatedAt: now}
	if err := s.record(ctx, rev); err != nil {
		return fmt.Errorf("sessions: revoke key %s: %w", kid, err)
	}
	s.audit.Emit(ctx, audit.Event{Type: audit.TokenRevoked, Time: now, KID: kid, Kind: audit.KindKID})
	return nil
}
