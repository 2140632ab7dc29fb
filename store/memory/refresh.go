package memory

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/tokenserver/tokenserver/store"
)

// expired reports whether a deadline has passed at now: a token or family
// is valid strictly before its expiry instant.
func expired(deadline, now time.Time) bool { return !now.Before(deadline) }

// clampIdle limits a token's idle expiry to its family's absolute expiry.
func clampIdle(t store.RefreshToken, f store.RefreshFamily) store.RefreshToken {
	if t.IdleExpiresAt.After(f.ExpiresAt) {
		t.IdleExpiresAt = f.ExpiresAt
	}
	return t
}

// CreateFamily implements store.RefreshTokenStore. The user and client must
// exist (ErrNotFound otherwise), mirroring the foreign keys of PostgreSQL, so
// DeleteUser and DeleteClient can never leave an orphaned session.
func (s *Store) CreateFamily(ctx context.Context, f store.RefreshFamily, t store.RefreshToken) error {
	if err := live(ctx, "create family"); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[f.UserID]
	if !ok {
		return fmt.Errorf("memory: create family: user: %w", store.ErrNotFound)
	}
	if _, ok := s.clients[f.ClientID]; !ok {
		return fmt.Errorf("memory: create family: client: %w", store.ErrNotFound)
	}
	if _, ok := s.families[f.ID]; ok {
		return fmt.Errorf("memory: create family: family id taken: %w", store.ErrConflict)
	}
	if _, ok := s.tokens[t.Hash]; ok {
		return fmt.Errorf("memory: create family: token hash taken: %w", store.ErrConflict)
	}
	// The login read the user at f.UserEpoch; a credential change since
	// then ends the session before it starts.
	if u.Disabled || u.CredentialEpoch != f.UserEpoch {
		return fmt.Errorf("memory: create family: user disabled or credentials changed: %w", store.ErrRevoked)
	}
	t.FamilyID = f.ID
	s.families[f.ID] = f
	s.tokens[t.Hash] = clampIdle(t, f)
	s.familyTokens[f.ID] = []string{t.Hash}
	return nil
}

// Rotate implements store.RefreshTokenStore. The whole check-and-update runs
// under the write lock, so of any number of concurrent rotations of one
// token exactly one sees it unconsumed (RFC 9700 §4.14.2).
func (s *Store) Rotate(ctx context.Context, req store.RotateRequest) (store.RefreshFamily, error) {
	if err := live(ctx, "rotate"); err != nil {
		return store.RefreshFamily{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()

	old, ok := s.tokens[req.OldHash]
	if !ok {
		return store.RefreshFamily{}, fmt.Errorf("memory: rotate: %w", store.ErrNotFound)
	}
	fam := s.families[old.FamilyID]
	// RFC 6749 §6: a refresh token is bound to the client it was issued to.
	// Another client's token must be indistinguishable from an unknown one.
	if fam.ClientID != req.ClientID {
		return store.RefreshFamily{}, fmt.Errorf("memory: rotate: %w", store.ErrNotFound)
	}
	// RFC 9449 §5: a bound refresh token needs a proof by its key.
	if fam.DPoPJKT != "" && fam.DPoPJKT != req.DPoPJKT {
		return fam, fmt.Errorf("memory: rotate: %w", store.ErrKeyBinding)
	}
	// RFC 6749 §6: the requested scope MUST NOT exceed the original grant.
	if !store.ScopeWithin(req.Scope, fam.Scope) {
		return fam, fmt.Errorf("memory: rotate: %w", store.ErrScope)
	}
	if !fam.RevokedAt.IsZero() {
		return fam, fmt.Errorf("memory: rotate: %w", store.ErrRevoked)
	}
	// A disabled user may not refresh; a deleted one has no families left,
	// but a missing user is refused all the same.
	user, ok := s.users[fam.UserID]
	if !ok || user.Disabled || user.CredentialEpoch != fam.UserEpoch {
		return fam, fmt.Errorf("memory: rotate: user disabled or credentials changed: %w", store.ErrRevoked)
	}
	if expired(old.IdleExpiresAt, req.Now) || expired(fam.ExpiresAt, req.Now) {
		return fam, fmt.Errorf("memory: rotate: %w", store.ErrExpired)
	}

	var superseded string // hash of an unused successor a leeway retry replaces
	if !old.ConsumedAt.IsZero() {
		succ, retry := s.leewayRetryLocked(old, req)
		if !retry {
			// RFC 9700 §4.14.2: reuse of a consumed token revokes the family.
			fam.RevokedAt = req.Now
			s.families[fam.ID] = fam
			return fam, fmt.Errorf("memory: rotate: %w", store.ErrReused)
		}
		superseded = succ
	}
	if _, ok := s.tokens[req.New.Hash]; ok {
		return fam, fmt.Errorf("memory: rotate: new token hash taken: %w", store.ErrConflict)
	}

	if superseded != "" {
		// The successor was never presented (the client lost the response);
		// it counts as consumed so the family keeps exactly one live token.
		succ := s.tokens[superseded]
		succ.ConsumedAt = req.Now
		s.tokens[superseded] = succ
	} else {
		old.ConsumedAt = req.Now
	}
	old.ReplacedBy = req.New.Hash
	s.tokens[old.Hash] = old

	next := req.New
	next.FamilyID = fam.ID
	next.ConsumedAt = time.Time{}
	next.ReplacedBy = ""
	s.tokens[next.Hash] = clampIdle(next, fam)
	s.familyTokens[fam.ID] = append(s.familyTokens[fam.ID], next.Hash)
	// The user's profile as of this rotation, for the new access token.
	user = cloneUser(user)
	fam.UserRoles, fam.UserAttributes = user.Roles, user.Attributes
	return fam, nil
}

// leewayRetryLocked decides whether presenting the consumed token old again
// is a retry within req.ReuseLeeway: consumed at most that long ago and its
// successor still unused. It returns the successor's hash.
func (s *Store) leewayRetryLocked(old store.RefreshToken, req store.RotateRequest) (string, bool) {
	if req.ReuseLeeway <= 0 || old.ReplacedBy == "" {
		return "", false
	}
	if req.Now.Sub(old.ConsumedAt) > req.ReuseLeeway {
		return "", false
	}
	succ, ok := s.tokens[old.ReplacedBy]
	if !ok || !succ.ConsumedAt.IsZero() {
		return "", false
	}
	return succ.Hash, true
}

// Lookup implements store.RefreshTokenStore.
func (s *Store) Lookup(ctx context.Context, hash string) (store.RefreshToken, store.RefreshFamily, error) {
	if err := live(ctx, "lookup"); err != nil {
		return store.RefreshToken{}, store.RefreshFamily{}, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	t, ok := s.tokens[hash]
	if !ok {
		return store.RefreshToken{}, store.RefreshFamily{}, fmt.Errorf("memory: lookup: %w", store.ErrNotFound)
	}
	return t, s.families[t.FamilyID], nil
}

// RevokeFamily implements store.RefreshTokenStore.
func (s *Store) RevokeFamily(ctx context.Context, familyID string, at time.Time) error {
	if err := live(ctx, "revoke family"); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.families[familyID]
	if !ok {
		return fmt.Errorf("memory: revoke family: %w", store.ErrNotFound)
	}
	if f.RevokedAt.IsZero() {
		f.RevokedAt = at
		s.families[familyID] = f
	}
	return nil
}

// RevokeUserFamilies implements store.RefreshTokenStore: the epoch bump and
// the revocations happen in one critical section. The IDs come back sorted.
func (s *Store) RevokeUserFamilies(ctx context.Context, userID string, at time.Time) ([]string, error) {
	if err := live(ctx, "revoke user families"); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if u, ok := s.users[userID]; ok {
		u.CredentialEpoch++
		s.users[userID] = u
	}
	var ids []string
	for id, f := range s.families {
		if f.UserID != userID || !f.RevokedAt.IsZero() || expired(f.ExpiresAt, at) {
			continue
		}
		f.RevokedAt = at
		s.families[id] = f
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids, nil
}

// deleteFamilyLocked removes a family and all of its tokens. s.mu must be
// held for writing.
func (s *Store) deleteFamilyLocked(id string) {
	for _, h := range s.familyTokens[id] {
		delete(s.tokens, h)
	}
	delete(s.familyTokens, id)
	delete(s.families, id)
}
