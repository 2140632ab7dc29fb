package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tokenserver/tokenserver/store"
)

const clientColumns = `id, secret_hash, grants, scopes, audience,
	access_token_ttl_ms, refresh_idle_ttl_ms, refresh_absolute_ttl_ms, created_at,
	token_roles, token_attributes`

func scanClient(row pgx.Row) (store.Client, error) {
	var c store.Client
	var access, idle, absolute int64
	if err := row.Scan(&c.ID, &c.SecretHash, &c.Grants, &c.Scopes, &c.Audience,
		&access, &idle, &absolute, &c.CreatedAt,
		&c.TokenRoles, &c.TokenAttributes); err != nil {
		return store.Client{}, err
	}
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
	if !allText(c.ID, c.SecretHash) || !allText(c.Grants...) || !allText(c.Scopes...) || !allText(c.Audience...) ||
		!allText(c.TokenAttributes...) {
		return errNotText("create client", "a field")
	}
	_, err := s.pool.Exec(ctx, `
		INSERT INTO clients (`+clientColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		c.ID, c.SecretHash, emptyIfNil(c.Grants), emptyIfNil(c.Scopes), emptyIfNil(c.Audience),
		c.AccessTokenTTL.Milliseconds(), c.RefreshIdleTTL.Milliseconds(), c.RefreshAbsoluteTTL.Milliseconds(),
		utc(c.CreatedAt),
		c.TokenRoles, emptyIfNil(c.TokenAttributes))
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
