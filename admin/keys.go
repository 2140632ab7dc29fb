package admin

import (
	"context"
	"errors"
	"fmt"

	"github.com/tokenserver/tokenserver/audit"
	"github.com/tokenserver/tokenserver/keys"
)

// Keys lists the signing keys without changing anything (no key is created,
// even on an empty store).
func (s *Service) Keys(ctx context.Context) ([]keys.KeyInfo, error) {
	if s.cfg.KeyManager != nil {
		return s.cfg.KeyManager.Keys(), nil
	}
	if s.cfg.Keys.Store == nil {
		return nil, fmt.Errorf("admin: list keys: %w", ErrUnsupported)
	}
	list, err := keys.List(ctx, s.cfg.Keys)
	return list, wrapErr("list keys", err)
}

// KeyRotation is the outcome of RotateKeys.
type KeyRotation struct {
	Keys []keys.KeyInfo
	// RevokedKIDs are the keys an emergency rotation unpublished and whose
	// tokens are now revoked on every resource server (kid revocations).
	RevokedKIDs []string
}

// RotateKeys promotes the next key (planned), or, with emergency, retires
// and unpublishes the current key at once and revokes every token it
// signed through the revocation feed (a leaked key).
func (s *Service) RotateKeys(ctx context.Context, emergency bool) (KeyRotation, error) {
	m := s.cfg.KeyManager
	if m == nil {
		if s.cfg.Keys.Store == nil {
			return KeyRotation{}, fmt.Errorf("admin: rotate keys: %w", ErrUnsupported)
		}
		// The manager creates the set if there is none: rotating needs keys.
		var err error
		if m, err = keys.NewManager(ctx, s.cfg.Keys); err != nil {
			return KeyRotation{}, fmt.Errorf("admin: signing keys: %w", err)
		}
	}
	if !emergency {
		err := m.Rotate(ctx)
		switch {
		case errors.Is(err, keys.ErrTooEarly):
			return KeyRotation{}, fmt.Errorf("%w: %w", ErrState, err)
		case errors.Is(err, keys.ErrStaticKeys):
			return KeyRotation{}, fmt.Errorf("%w: %w", ErrUnsupported, err)
		case err != nil:
			return KeyRotation{}, fmt.Errorf("admin: rotate keys: %w", err)
		}
		s.audited(ctx, audit.ActionKeysRotate, signingKID(m))
		return KeyRotation{Keys: m.Keys()}, nil
	}
	kids, err := m.RotateNowKIDs(ctx)
	if errors.Is(err, keys.ErrStaticKeys) {
		return KeyRotation{}, fmt.Errorf("%w: %w", ErrUnsupported, err)
	}
	if err != nil {
		return KeyRotation{}, fmt.Errorf("admin: rotate keys: %w", err)
	}
	out := KeyRotation{Keys: m.Keys()}
	// The rotation happened whether or not the revocations below land.
	s.audited(ctx, audit.ActionKeysRotate, signingKID(m))
	// Only after the rotation has committed: revoking first would refuse
	// the tokens of a key the servers still sign with.
	for _, kid := range kids {
		if err := s.cfg.Sessions.RevokeSigningKey(ctx, kid, m.MaxAge()); err != nil {
			return out, fmt.Errorf("admin: the keys were rotated and unpublished, but resource servers were not told to stop trusting key %s "+
				"(they will when their cached JWKS expires, within %s): %w", kid, m.MaxAge(), err)
		}
		out.RevokedKIDs = append(out.RevokedKIDs, kid)
	}
	return out, nil
}

// signingKID is the id of the key m signs with: the target of a rotation.
func signingKID(m *keys.Manager) string {
	for _, k := range m.Keys() {
		if k.Signing {
			return k.ID
		}
	}
	return ""
}
