package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tokenserver/tokenserver/store"
)

const clientColumns = `id, secret_hash, grants, scopes, audience,
	access_token_ttl_ms, refresh_idle_ttl_ms, refresh_absolute_ttl_ms, created_at,
	previous_secret_hash, previous_secret_expires_at, token_roles, token_attributes, require_dpop`

func scanClient(row pgx.Row) (store.Client, error) {
	var c store.Client
	var access, idle, absolute int64
	var previousExpires *time.Time
	if err := row.Scan(&c.ID, &c.SecretHash, &c.Grants, &c.Scopes, &c.Audience,
		&access, &idle, &absolute, &c.CreatedAt, &c.PreviousSecretHash, &previousExpires,
		&c.TokenRoles, &c.TokenAttributes, &c.RequireDPoP); err != nil {
		return store.Client{}, err
	}
	c.PreviousSecretExpiresAt = fromNull(previousExpires)
	c.AccessTokenTTL = time.Duration(access) * time.Millisecond
	c.RefreshIdleTTL = time.Duration(idle) * time.Millisecond
	c.RefreshAbsoluteTTL = time.Duration(absolute) * time.Millisecond
	c.CreatedAt = c.CreatedAt.UTC()
	c.Grants, c.Scopes, c.Audience = nilIfEmpty(c.Grants), nilIfEmpty(c.Scopes), nilIfEmpty(c.Audience)
	c.TokenAttributes = nilIfEmpty(c.TokenAttributes)
	return c, nil
}

// nilIfEmpty returns nil for an empty list, so a client stored with nil
// lists reads back the same (arrays are NOT NULL '{}' in the table).
func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

// emptyIfNil stores a nil list as '{}' (the columns are NOT NULL).
func emptyIfNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// CreateClient stores c; ErrConflict if the ID is taken. Lifetimes are kept
// in whole milliseconds.
func (s *Store) CreateClient(ctx context.Context, c store.Client) error {
	if c.ID == "" {
		return fmt.Errorf("postgres: create client: empty ID")
	}
	if c.AccessTokenTTL < 0 || c.RefreshIdleTTL < 0 || c.RefreshAbsoluteTTL < 0 {
		return fmt.Errorf("postgres: create client: negative lifetime")
	}
	if !clientText(c) {
		return errNotText("create client", "a field")
	}
	_, err := s.pool.Exec(ctx, `
		INSERT INTO clients (`+clientColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
		c.ID, c.SecretHash, emptyIfNil(c.Grants), emptyIfNil(c.Scopes), emptyIfNil(c.Audience),
		c.AccessTokenTTL.Milliseconds(), c.RefreshIdleTTL.Milliseconds(), c.RefreshAbsoluteTTL.Milliseconds(),
		utc(c.CreatedAt), c.PreviousSecretHash, nullTime(c.PreviousSecretExpiresAt),
		c.TokenRoles, emptyIfNil(c.TokenAttributes), c.RequireDPoP)
	return wrap("create client", err)
}

// ClientByID returns the client or ErrNotFound.
func (s *Store) ClientByID(ctx context.Context, id string) (store.Client, error) {
	if !isText(id) {
		return store.Client{}, notFoundNotText("client by id")
	}
	c, err := scanClient(s.pool.QueryRow(ctx, `SELECT `+clientColumns+` FROM clients WHERE id = $1`, id))
	return c, wrap("client by id", err)
}

// ListClients returns every client ordered by ID (byte order).
func (s *Store) ListClients(ctx context.Context) ([]store.Client, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+clientColumns+` FROM clients ORDER BY id COLLATE "C"`)
	if err != nil {
		return nil, wrap("list clients", err)
	}
	clients, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Client, error) { return scanClient(r) })
	return clients, wrap("list clients", err)
}

// DeleteClient removes the client; ON DELETE CASCADE removes its families
// and their tokens in the same statement.
func (s *Store) DeleteClient(ctx context.Context, id string) error {
	if !isText(id) {
		return notFoundNotText("delete client")
	}
	tag, err := s.pool.Exec(ctx, `DELETE FROM clients WHERE id = $1`, id)
	if err != nil {
		return wrap("delete client", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: delete client: %w", store.ErrNotFound)
	}
	return nil
}

// clientText reports whether every text field of c can be stored.
func clientText(c store.Client) bool {
	return allText(c.ID, c.SecretHash, c.PreviousSecretHash) && allText(c.Grants...) &&
		allText(c.Scopes...) && allText(c.Audience...) && allText(c.TokenAttributes...)
}

// UpdateClient implements store.ClientUpdater: the row is locked (SELECT …
// FOR UPDATE) while fn runs, so concurrent updates of one client are
// serialised, and the result is written in the same transaction.
func (s *Store) UpdateClient(ctx context.Context, id string, fn func(store.Client) (store.Client, error)) (store.Client, error) {
	if !isText(id) {
		return store.Client{}, notFoundNotText("update client")
	}
	var fnErr, badErr error
	var out store.Client
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		cur, err := scanClient(tx.QueryRow(ctx, `SELECT `+clientColumns+` FROM clients WHERE id = $1 FOR UPDATE`, id))
		if err != nil {
			return err
		}
		next, err := fn(cur)
		if err != nil {
			fnErr = err
			return err
		}
		next.ID, next.CreatedAt = cur.ID, cur.CreatedAt
		if next.AccessTokenTTL < 0 || next.RefreshIdleTTL < 0 || next.RefreshAbsoluteTTL < 0 {
			badErr = errors.New("postgres: update client: negative lifetime")
			return badErr
		}
		if !clientText(next) {
			badErr = errNotText("update client", "a field")
			return badErr
		}
		_, err = tx.Exec(ctx, `
			UPDATE clients SET secret_hash = $2, grants = $3, scopes = $4, audience = $5,
				access_token_ttl_ms = $6, refresh_idle_ttl_ms = $7, refresh_absolute_ttl_ms = $8,
				previous_secret_hash = $9, previous_secret_expires_at = $10,
				token_roles = $11, token_attributes = $12, require_dpop = $13
			WHERE id = $1`,
			next.ID, next.SecretHash, emptyIfNil(next.Grants), emptyIfNil(next.Scopes), emptyIfNil(next.Audience),
			next.AccessTokenTTL.Milliseconds(), next.RefreshIdleTTL.Milliseconds(), next.RefreshAbsoluteTTL.Milliseconds(),
			next.PreviousSecretHash, nullTime(next.PreviousSecretExpiresAt),
			next.TokenRoles, emptyIfNil(next.TokenAttributes), next.RequireDPoP)
		out = next
		return err
	})
	switch {
	case fnErr != nil:
		return store.Client{}, fmt.Errorf("postgres: update client: %w", fnErr)
	case badErr != nil:
		return store.Client{}, badErr
	case err != nil:
		return store.Client{}, wrap("update client", err)
	}
	return out, nil
}
