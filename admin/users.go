package admin

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/tokenserver/tokenserver/audit"
	"github.com/tokenserver/tokenserver/store"
	"github.com/tokenserver/tokenserver/tokenserver/password"
	"github.com/tokenserver/tokenserver/tokenserver/username"
)

// Page sizes of ListUsers.
const (
	DefaultPageSize = 50
	MaxPageSize     = 500
)

// NewUser is a sign-up: the user to create.
type NewUser struct {
	Username string
	Password string
	Disabled bool
	// Profile is the user's email, attributes and roles (store.UserProfile,
	// validated by the store's bounds).
	Profile store.UserProfile
}

// NormalizeUsername is username.Normalize with an error naming the field.
func NormalizeUsername(name string) (string, error) {
	n, err := username.Normalize(name)
	if err != nil {
		return "", &ValidationError{Field: "username", Detail: fmt.Sprintf("%q: %v", name, err)}
	}
	return n, nil
}

// hashPassword applies the policy and hashes pw.
func (s *Service) hashPassword(ctx context.Context, pw string) (string, error) {
	if pw == "" {
		return "", invalid("password", "must not be empty")
	}
	if s.cfg.CheckPassword != nil {
		if err := s.cfg.CheckPassword(pw); err != nil {
			return "", &ValidationError{Field: "password", Detail: err.Error()}
		}
	}
	if s.cfg.Hasher == nil {
		return "", fmt.Errorf("admin: hash password: %w", ErrUnsupported)
	}
	hash, err := s.cfg.Hasher.Hash(ctx, pw)
	switch {
	case errors.Is(err, password.ErrTooLong), errors.Is(err, password.ErrEmpty):
		return "", &ValidationError{Field: "password", Detail: err.Error()}
	case err != nil:
		return "", fmt.Errorf("admin: hash password: %w", err)
	}
	return hash, nil
}

// CreateUser creates a user with a new password: the username is stored in
// its PRECIS-normalized form (tokenserver/username), so look-alike
// spellings collide (ErrExists) instead of becoming two accounts.
func (s *Service) CreateUser(ctx context.Context, in NewUser) (store.User, error) {
	name, err := NormalizeUsername(strings.TrimSpace(in.Username))
	if err != nil {
		return store.User{}, err
	}
	profile, err := normalizeProfile(in.Profile)
	if err != nil {
		return store.User{}, err
	}
	hash, err := s.hashPassword(ctx, in.Password)
	if err != nil {
		return store.User{}, err
	}
	return s.createUser(ctx, name, hash, in.Disabled, profile)
}

// createUser stores a new user with a hash; name is already normalized.
func (s *Service) createUser(ctx context.Context, name, hash string, disabled bool, p store.UserProfile) (store.User, error) {
	now := s.now().UTC()
	u := store.User{ID: newUUID(), Username: name, PasswordHash: hash, Disabled: disabled,
		CreatedAt: now, UpdatedAt: now, PasswordChangedAt: now,
		Email: p.Email, Attributes: p.Attributes, Roles: p.Roles}
	err := s.cfg.Users.CreateUser(ctx, u)
	if errors.Is(err, store.ErrConflict) {
		if p.Email != "" {
			return store.User{}, fmt.Errorf("%w: user %q or email %q", ErrExists, name, p.Email)
		}
		return store.User{}, fmt.Errorf("%w: user %q", ErrExists, name)
	}
	if errors.Is(err, store.ErrInvalidProfile) {
		return store.User{}, invalid("profile", "%v", err)
	}
	if err != nil {
		return store.User{}, fmt.Errorf("admin: create user: %w", err)
	}
	s.audited(ctx, audit.ActionUserCreate, u.ID)
	return u, nil
}

// User returns the user with that ID.
func (s *Service) User(ctx context.Context, id string) (store.User, error) {
	u, err := s.cfg.Users.UserByID(ctx, id)
	if err != nil {
		return store.User{}, notFound("get user", "user "+id, err)
	}
	return u, nil
}

// UpdateProfile changes the user's email, attributes and roles with edit
// (read, edit, write: a concurrent update of the same user may be lost). A
// profile change is not a credential change: sessions stay, and tokens
// issued from now on (refreshes included) carry the new roles.
func (s *Service) UpdateProfile(ctx context.Context, id string, edit func(store.UserProfile) store.UserProfile) (store.User, error) {
	u, err := s.User(ctx, id)
	if err != nil {
		return store.User{}, err
	}
	p, err := normalizeProfile(edit(u.Profile()))
	if err != nil {
		return store.User{}, err
	}
	err = s.cfg.Users.UpdateUserProfile(ctx, id, p, s.now().UTC())
	switch {
	case errors.Is(err, store.ErrConflict):
		return store.User{}, fmt.Errorf("%w: email %q", ErrExists, p.Email)
	case errors.Is(err, store.ErrInvalidProfile):
		return store.User{}, invalid("profile", "%v", err)
	case err != nil:
		return store.User{}, notFound("update user", "user "+id, err)
	}
	s.audited(ctx, audit.ActionUserUpdate, id)
	return s.User(ctx, id)
}

// UserByName finds a user by username, normalized as at login. A user
// created before usernames were normalized may be stored in a form the
// normalized name does not find (decomposed accents, full-width letters, a
// name the profile refuses); only then is the name as given tried too, so
// an operator can still disable, delete or reset such an account.
func (s *Service) UserByName(ctx context.Context, given string) (store.User, error) {
	name, normErr := NormalizeUsername(given)
	if normErr == nil {
		u, err := s.cfg.Users.UserByName(ctx, name)
		if err == nil || !errors.Is(err, store.ErrNotFound) {
			return u, wrapErr("find user", err)
		}
		if name == given {
			return store.User{}, fmt.Errorf("%w: no user %q", ErrNotFound, given)
		}
	}
	u, err := s.cfg.Users.UserByName(ctx, given)
	switch {
	case errors.Is(err, store.ErrNotFound) && normErr != nil:
		return store.User{}, normErr
	case errors.Is(err, store.ErrNotFound):
		return store.User{}, fmt.Errorf("%w: no user %q", ErrNotFound, given)
	}
	return u, wrapErr("find user", err)
}

func wrapErr(op string, err error) error {
	if err != nil {
		return fmt.Errorf("admin: %s: %w", op, err)
	}
	return nil
}

// UserPage is one page of ListUsers.
type UserPage struct {
	Users []store.User
	// Next is the cursor of the following page; empty on the last page.
	Next string
}

// ListUsers returns up to limit users (DefaultPageSize when 0, at most
// MaxPageSize) after the cursor (a username; "" for the first page) whose
// username starts with prefix, ordered by username.
func (s *Service) ListUsers(ctx context.Context, cursor, prefix string, limit int) (UserPage, error) {
	pager, ok := s.cfg.Users.(store.UserPager)
	if !ok {
		return UserPage{}, fmt.Errorf("admin: list users: %w", ErrUnsupported)
	}
	switch {
	case limit == 0:
		limit = DefaultPageSize
	case limit < 0 || limit > MaxPageSize:
		return UserPage{}, invalid("limit", "must be between 1 and %d", MaxPageSize)
	}
	// One more than asked tells whether another page follows.
	users, err := pager.ListUsersPage(ctx, cursor, prefix, limit+1)
	if err != nil {
		return UserPage{}, fmt.Errorf("admin: list users: %w", err)
	}
	page := UserPage{Users: users}
	if len(users) > limit {
		page.Users = users[:limit]
		page.Next = users[limit-1].Username
	}
	return page, nil
}

// SetPassword changes the user's password and ends every session of the
// old one. It returns how many sessions were revoked.
func (s *Service) SetPassword(ctx context.Context, id, pw string) (int, error) {
	if _, err := s.User(ctx, id); err != nil {
		return 0, err
	}
	hash, err := s.hashPassword(ctx, pw)
	if err != nil {
		return 0, err
	}
	n, err := s.cfg.Sessions.SetPassword(ctx, id, hash)
	if err != nil {
		return 0, notFound("set password", "user "+id, err)
	}
	s.audited(ctx, audit.ActionUserSetPassword, id)
	return n, nil
}

// SetDisabled disables (ending every session) or enables the user.
func (s *Service) SetDisabled(ctx context.Context, id string, disabled bool) (int, error) {
	n, err := s.cfg.Sessions.SetDisabled(ctx, id, disabled)
	if err != nil {
		return 0, notFound("set disabled", "user "+id, err)
	}
	action := audit.ActionUserEnable
	if disabled {
		action = audit.ActionUserDisable
	}
	s.audited(ctx, action, id)
	return n, nil
}

// DeleteUser ends every session of the user and deletes the user.
func (s *Service) DeleteUser(ctx context.Context, id string) error {
	if _, err := s.User(ctx, id); err != nil {
		return err
	}
	if err := s.cfg.Sessions.DeleteUser(ctx, id); err != nil {
		return notFound("delete user", "user "+id, err)
	}
	s.audited(ctx, audit.ActionUserDelete, id)
	return nil
}

// EndSessions logs the user out everywhere: every session is revoked and
// every access token issued until now is denied. It returns how many
// sessions were revoked.
func (s *Service) EndSessions(ctx context.Context, id string) (int, error) {
	if _, err := s.User(ctx, id); err != nil {
		return 0, err
	}
	n, err := s.cfg.Sessions.EndUserSessions(ctx, id)
	if err != nil {
		return 0, wrapErr("end sessions", err)
	}
	s.audited(ctx, audit.ActionUserEndSessions, id)
	return n, nil
}

// Sessions lists the user's live sessions.
func (s *Service) Sessions(ctx context.Context, id string) ([]store.SessionInfo, error) {
	lister, ok := s.cfg.Refresh.(store.SessionLister)
	if !ok {
		return nil, fmt.Errorf("admin: list sessions: %w", ErrUnsupported)
	}
	if _, err := s.User(ctx, id); err != nil {
		return nil, err
	}
	out, err := lister.UserSessions(ctx, id, s.now())
	return out, wrapErr("list sessions", err)
}

// RevokeSession ends one live session of the user and denies its access
// tokens. A session that is not one of the user's live sessions is
// ErrNotFound.
func (s *Service) RevokeSession(ctx context.Context, userID, sessionID string) error {
	live, err := s.Sessions(ctx, userID)
	if err != nil {
		return err
	}
	for _, si := range live {
		if si.ID == sessionID {
			if err := s.cfg.Sessions.RevokeSession(ctx, sessionID, 0, audit.CauseAdmin); err != nil {
				return wrapErr("revoke session", err)
			}
			s.audited(ctx, audit.ActionSessionRevoke, sessionID)
			return nil
		}
	}
	return fmt.Errorf("%w: session %s of user %s", ErrNotFound, sessionID, userID)
}
