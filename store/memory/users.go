package memory

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/tokenserver/tokenserver/store"
)

// nameKey is the case-insensitive index key of a username.
func nameKey(username string) string { return strings.ToLower(username) }

// cloneUser deep-copies u's roles and attributes, so callers never share
// them with the store. Empty lists become nil, as PostgreSQL returns them.
func cloneUser(u store.User) store.User {
	u.Roles = cloneStrings(u.Roles)
	if len(u.Roles) == 0 {
		u.Roles = nil
	}
	u.Attributes = cloneAttributes(u.Attributes)
	return u
}

// cloneAttributes deep-copies attrs (nil for none).
func cloneAttributes(attrs map[string]json.RawMessage) map[string]json.RawMessage {
	if len(attrs) == 0 {
		return nil
	}
	out := make(map[string]json.RawMessage, len(attrs))
	for k, v := range attrs {
		out[k] = slices.Clone(v)
	}
	return out
}

// checkProfile applies store.CheckUserProfile and returns the profile's
// attributes in compact form, as the user will be stored.
func checkProfile(op string, p store.UserProfile) (map[string]json.RawMessage, error) {
	if err := store.CheckUserProfile(p); err != nil {
		return nil, fmt.Errorf("memory: %s: %w", op, err)
	}
	attrs, err := store.CompactAttributes(p.Attributes)
	if err != nil {
		return nil, fmt.Errorf("memory: %s: %w: %w", op, store.ErrInvalidProfile, err)
	}
	return attrs, nil
}

// CreateUser implements store.UserStore.
func (s *Store) CreateUser(ctx context.Context, u store.User) error {
	if err := live(ctx, "create user"); err != nil {
		return err
	}
	attrs, err := checkProfile("create user", u.Profile())
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.users[u.ID]; ok {
		return fmt.Errorf("memory: create user: id taken: %w", store.ErrConflict)
	}
	key := nameKey(u.Username)
	if _, ok := s.userByName[key]; ok {
		return fmt.Errorf("memory: create user: username taken: %w", store.ErrConflict)
	}
	if _, ok := s.userByEmail[store.EmailKey(u.Email)]; ok && u.Email != "" {
		return fmt.Errorf("memory: create user: email taken: %w", store.ErrConflict)
	}
	u.CredentialEpoch = 0 // the store owns the epoch
	u = cloneUser(u)
	u.Attributes = attrs
	s.users[u.ID] = u
	s.userByName[key] = u.ID
	if u.Email != "" {
		s.userByEmail[store.EmailKey(u.Email)] = u.ID
	}
	return nil
}

// UserByEmail implements store.UserStore.
func (s *Store) UserByEmail(ctx context.Context, email string) (store.User, error) {
	if err := live(ctx, "user by email"); err != nil {
		return store.User{}, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	id, ok := s.userByEmail[store.EmailKey(email)]
	if !ok || email == "" {
		return store.User{}, fmt.Errorf("memory: user by email: %w", store.ErrNotFound)
	}
	return cloneUser(s.users[id]), nil
}

// UpdateUserProfile implements store.UserStore. The credential epoch stays.
func (s *Store) UpdateUserProfile(ctx context.Context, id string, p store.UserProfile, at time.Time) error {
	if err := live(ctx, "update user profile"); err != nil {
		return err
	}
	attrs, err := checkProfile("update user profile", p)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[id]
	if !ok {
		return fmt.Errorf("memory: update user profile: %w", store.ErrNotFound)
	}
	newKey := store.EmailKey(p.Email)
	if other, ok := s.userByEmail[newKey]; ok && p.Email != "" && other != id {
		return fmt.Errorf("memory: update user profile: email taken: %w", store.ErrConflict)
	}
	if u.Email != "" {
		delete(s.userByEmail, store.EmailKey(u.Email))
	}
	if p.Email != "" {
		s.userByEmail[newKey] = id
	}
	u.Email = p.Email
	u.Roles = cloneUser(store.User{Roles: p.Roles}).Roles
	u.Attributes = attrs
	u.UpdatedAt = at
	s.users[id] = u
	return nil
}

// UserByName implements store.UserStore.
func (s *Store) UserByName(ctx context.Context, name string) (store.User, error) {
	if err := live(ctx, "user by name"); err != nil {
		return store.User{}, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	id, ok := s.userByName[nameKey(name)]
	if !ok {
		return store.User{}, fmt.Errorf("memory: user by name: %w", store.ErrNotFound)
	}
	return cloneUser(s.users[id]), nil
}

// UserByID implements store.UserStore.
func (s *Store) UserByID(ctx context.Context, id string) (store.User, error) {
	if err := live(ctx, "user by id"); err != nil {
		return store.User{}, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	u, ok := s.users[id]
	if !ok {
		return store.User{}, fmt.Errorf("memory: user by id: %w", store.ErrNotFound)
	}
	return cloneUser(u), nil
}

// ListUsers implements store.UserStore. Users are ordered by username
// case-insensitively (the unique key), which agrees with plain ordering for
// lowercase names.
func (s *Store) ListUsers(ctx context.Context) ([]store.User, error) {
	if err := live(ctx, "list users"); err != nil {
		return nil, err
	}
	s.mu.RLock()
	out := make([]store.User, 0, len(s.users))
	for _, u := range s.users {
		out = append(out, cloneUser(u))
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return nameKey(out[i].Username) < nameKey(out[j].Username) })
	return out, nil
}

// UpgradePasswordHash implements store.UserStore. It changes only the hash:
// a transparent rehash at login is not a password change.
func (s *Store) UpgradePasswordHash(ctx context.Context, id, oldHash, newHash string) error {
	if err := live(ctx, "upgrade password hash"); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[id]
	if !ok {
		return fmt.Errorf("memory: upgrade password hash: %w", store.ErrNotFound)
	}
	if u.PasswordHash != oldHash {
		return fmt.Errorf("memory: upgrade password hash: hash changed: %w", store.ErrConflict)
	}
	u.PasswordHash = newHash
	s.users[id] = u
	return nil
}

// SetPassword implements store.UserStore.
func (s *Store) SetPassword(ctx context.Context, id, hash string, at time.Time) error {
	if err := live(ctx, "set password"); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[id]
	if !ok {
		return fmt.Errorf("memory: set password: %w", store.ErrNotFound)
	}
	u.PasswordHash = hash
	u.PasswordChangedAt = at
	u.UpdatedAt = at
	u.CredentialEpoch++
	s.users[id] = u
	return nil
}

// SetDisabled implements store.UserStore.
func (s *Store) SetDisabled(ctx context.Context, id string, disabled bool, at time.Time) error {
	if err := live(ctx, "set disabled"); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[id]
	if !ok {
		return fmt.Errorf("memory: set disabled: %w", store.ErrNotFound)
	}
	u.Disabled = disabled
	u.UpdatedAt = at
	u.CredentialEpoch++
	s.users[id] = u
	return nil
}

// DeleteUser implements store.UserStore: the user and all of their
// refresh-token families go in one critical section.
func (s *Store) DeleteUser(ctx context.Context, id string) error {
	if err := live(ctx, "delete user"); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[id]
	if !ok {
		return fmt.Errorf("memory: delete user: %w", store.ErrNotFound)
	}
	for fid, f := range s.families {
		if f.UserID == id {
			s.deleteFamilyLocked(fid)
		}
	}
	delete(s.userByName, nameKey(u.Username))
	if u.Email != "" {
		delete(s.userByEmail, store.EmailKey(u.Email))
	}
	delete(s.users, id)
	return nil
}
