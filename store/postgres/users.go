package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tokenserver/tokenserver/store"
)

const userColumns = `id::text, username, password_hash, disabled, created_at, updated_at, password_changed_at, credential_epoch,
	email, attributes, roles`

func scanUser(row pgx.Row) (store.User, error) {
	var u store.User
	var changed *time.Time
	var email *string
	var attrs []byte
	if err := row.Scan(&u.ID, &u.Username, &u.PasswordHash, &u.Disabled, &u.CreatedAt, &u.UpdatedAt, &changed, &u.CredentialEpoch,
		&email, &attrs, &u.Roles); err != nil {
		return store.User{}, err
	}
	u.CreatedAt, u.UpdatedAt, u.PasswordChangedAt = u.CreatedAt.UTC(), u.UpdatedAt.UTC(), fromNull(changed)
	u.Email, u.Roles = fromNullText(email), nilIfEmpty(u.Roles)
	var err error
	u.Attributes, err = decodeAttributes(attrs)
	return u, err
}

// decodeAttributes reads a jsonb object into the store's form: compact
// values (jsonb prints `[1, 2]`), nil for an empty object.
func decodeAttributes(b []byte) (map[string]json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("attributes: %w", err)
	}
	return store.CompactAttributes(m)
}

// encodeAttributes is the jsonb parameter for attrs: always an object.
func encodeAttributes(attrs map[string]json.RawMessage) (string, error) {
	if len(attrs) == 0 {
		return "{}", nil
	}
	b, err := json.Marshal(attrs)
	return string(b), err
}

// profileArgs checks p (store.CheckUserProfile) and returns its email,
// attributes and roles as statement parameters.
func profileArgs(op string, p store.UserProfile) (email any, attrs string, roles []string, err error) {
	if err := store.CheckUserProfile(p); err != nil {
		return nil, "", nil, fmt.Errorf("postgres: %s: %w", op, err)
	}
	if attrs, err = encodeAttributes(p.Attributes); err != nil {
		return nil, "", nil, fmt.Errorf("postgres: %s: attributes: %w: %w", op, store.ErrInvalidProfile, err)
	}
	return nullText(p.Email), attrs, emptyIfNil(p.Roles), nil
}

// CreateUser stores u; ErrConflict if the ID or the username (compared
// case-insensitively by the unique index on lower(username)) is taken.
func (s *Store) CreateUser(ctx context.Context, u store.User) error {
	if !isUUID(u.ID) {
		return fmt.Errorf("postgres: create user: ID %q is not a UUID", u.ID)
	}
	if !isText(u.Username) {
		return errNotText("create user", "username")
	}
	if !isText(u.PasswordHash) {
		return errNotText("create user", "password hash")
	}
	email, attrs, roles, err := profileArgs("create user", u.Profile())
	if err != nil {
		return err
	}
	_, err = s.pool.Exec(ctx, `
		INSERT INTO users (id, username, password_hash, disabled, created_at, updated_at, password_changed_at,
		                   email, attributes, roles)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10)`,
		u.ID, u.Username, u.PasswordHash, u.Disabled, utc(u.CreatedAt), utc(u.UpdatedAt), nullTime(u.PasswordChangedAt),
		email, attrs, roles)
	return wrap("create user", err)
}

// UserByEmail finds a user by email, case-insensitively (the partial
// unique index on lower(email)).
func (s *Store) UserByEmail(ctx context.Context, email string) (store.User, error) {
	if email == "" || !isText(email) {
		return store.User{}, notFoundNotText("user by email")
	}
	u, err := scanUser(s.pool.QueryRow(ctx,
		`SELECT `+userColumns+` FROM users WHERE lower(email) = lower($1) AND email IS NOT NULL`, email))
	return u, wrap("user by email", err)
}

// UpdateUserProfile replaces email, attributes and roles in one UPDATE;
// the credential epoch stays. A taken email is the unique index's
// ErrConflict.
func (s *Store) UpdateUserProfile(ctx context.Context, id string, p store.UserProfile, at time.Time) error {
	email, attrs, roles, err := profileArgs("update user profile", p)
	if err != nil {
		return err
	}
	return s.updateUser(ctx, "update user profile",
		`UPDATE users SET email = $2, attributes = $3::jsonb, roles = $4, updated_at = $5 WHERE id = $1`,
		id, email, attrs, roles, utc(at))
}

// UserByName finds a user by username, case-insensitively.
func (s *Store) UserByName(ctx context.Context, name string) (store.User, error) {
	if !isText(name) {
		return store.User{}, notFoundNotText("user by name")
	}
	u, err := scanUser(s.pool.QueryRow(ctx,
		`SELECT `+userColumns+` FROM users WHERE lower(username) = lower($1)`, name))
	return u, wrap("user by name", err)
}

// UserByID finds a user by ID.
func (s *Store) UserByID(ctx context.Context, id string) (store.User, error) {
	if !isUUID(id) {
		return store.User{}, fmt.Errorf("postgres: user by id: %w", store.ErrNotFound)
	}
	u, err := scanUser(s.pool.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, id))
	return u, wrap("user by id", err)
}

// ListUsers returns every user ordered by lower-cased username (the unique
// key) in byte order, whatever the database's collation.
func (s *Store) ListUsers(ctx context.Context) ([]store.User, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+userColumns+` FROM users ORDER BY lower(username) COLLATE "C"`)
	if err != nil {
		return nil, wrap("list users", err)
	}
	users, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.User, error) { return scanUser(r) })
	return users, wrap("list users", err)
}

// UpgradePasswordHash swaps the hash only if it still equals oldHash, in one
// conditional UPDATE, so a concurrent password change always wins.
func (s *Store) UpgradePasswordHash(ctx context.Context, id, oldHash, newHash string) error {
	if !isUUID(id) {
		return fmt.Errorf("postgres: upgrade password hash: %w", store.ErrNotFound)
	}
	if !allText(oldHash, newHash) {
		return errNotText("upgrade password hash", "hash")
	}
	tag, err := s.pool.Exec(ctx,
		`UPDATE users SET password_hash = $3 WHERE id = $1 AND password_hash = $2`, id, oldHash, newHash)
	if err != nil {
		return wrap("upgrade password hash", err)
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	// Only on failure: tell a missing user from a lost race.
	var exists bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM users WHERE id = $1)`, id).Scan(&exists); err != nil {
		return wrap("upgrade password hash", err)
	}
	if !exists {
		return fmt.Errorf("postgres: upgrade password hash: %w", store.ErrNotFound)
	}
	return fmt.Errorf("postgres: upgrade password hash: %w", store.ErrConflict)
}

// SetPassword stores a new hash, sets PasswordChangedAt = UpdatedAt = at and
// increments the credential epoch in one UPDATE, so no session created from
// a login that read the old hash can be used afterwards.
func (s *Store) SetPassword(ctx context.Context, id, hash string, at time.Time) error {
	if !isText(hash) {
		return errNotText("set password", "hash")
	}
	return s.updateUser(ctx, "set password",
		`UPDATE users SET password_hash = $2, password_changed_at = $3, updated_at = $3,
		        credential_epoch = credential_epoch + 1
		  WHERE id = $1`,
		id, hash, utc(at))
}

// SetDisabled sets the disabled flag and UpdatedAt = at and increments the
// credential epoch in one UPDATE.
func (s *Store) SetDisabled(ctx context.Context, id string, disabled bool, at time.Time) error {
	return s.updateUser(ctx, "set disabled",
		`UPDATE users SET disabled = $2, updated_at = $3, credential_epoch = credential_epoch + 1 WHERE id = $1`,
		id, disabled, utc(at))
}

// DeleteUser removes the user; ON DELETE CASCADE removes the user's
// refresh-token families and their tokens in the same statement.
func (s *Store) DeleteUser(ctx context.Context, id string) error {
	return s.updateUser(ctx, "delete user", `DELETE FROM users WHERE id = $1`, id)
}

// updateUser runs a statement on one user row (id is $1): ErrNotFound when
// it touches none.
func (s *Store) updateUser(ctx context.Context, op, sql string, id string, args ...any) error {
	if !isUUID(id) {
		return fmt.Errorf("postgres: %s: %w", op, store.ErrNotFound)
	}
	tag, err := s.pool.Exec(ctx, sql, append([]any{id}, args...)...)
	if err != nil {
		return wrap(op, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: %s: %w", op, store.ErrNotFound)
	}
	return nil
}

// ListUsersPage implements store.UserPager: ListUsers' order (lower-cased
// username in byte order), keyset-paginated on that key.
func (s *Store) ListUsersPage(ctx context.Context, after, prefix string, limit int) ([]store.User, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("postgres: list users page: limit %d must be positive", limit)
	}
	if !allText(after, prefix) {
		return nil, nil // no stored username starts with or follows such a key meaningfully
	}
	rows, err := s.pool.Query(ctx, `
		SELECT `+userColumns+` FROM users
		WHERE ($1 = '' OR lower(username) COLLATE "C" > lower($1) COLLATE "C")
		  AND starts_with(lower(username), lower($2))
		ORDER BY lower(username) COLLATE "C"
		LIMIT $3`, after, prefix, limit)
	if err != nil {
		return nil, wrap("list users page", err)
	}
	users, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.User, error) { return scanUser(r) })
	return users, wrap("list users page", err)
}
