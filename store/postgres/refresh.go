package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tokenserver/tokenserver/store"
)

// createFamilySQL stores a family and its first token in one statement (a
// data-modifying CTE), so neither exists without the other, and only while
// the user is enabled and still at the credential epoch the login read
// ($14). The user row is read in the statement's snapshot: a credential
// change that commits after the statement started is not seen, but then
// the family's user_epoch is stale and Rotate refuses it, and every access
// token of the login was issued before that change committed, so the
// change's `sub` revocation covers it.
const createFamilySQL = `
WITH owner AS (
	SELECT id FROM users WHERE id = $3 AND NOT disabled AND credential_epoch = $14
), family AS (
	INSERT INTO refresh_families (id, client_id, user_id, username, scope, created_at, expires_at, revoked_at, user_epoch, dpop_jkt)
	SELECT $1, $2, id, $4, $5, $6, $7, $8, $14, $15 FROM owner
	RETURNING id
)
INSERT INTO refresh_tokens (hash, family_id, issued_at, idle_expires_at, consumed_at, replaced_by)
SELECT $9, id, $10, $11, $12, $13 FROM family`

// CreateFamily stores f and its first token t (createFamilySQL). The
// token's IdleExpiresAt is clamped to f.ExpiresAt. ErrConflict if the family
// ID or the token hash exists; ErrNotFound if the client or user does not;
// ErrRevoked if the user is disabled or its epoch is not f.UserEpoch.
func (s *Store) CreateFamily(ctx context.Context, f store.RefreshFamily, t store.RefreshToken) error {
	if f.ID == "" || t.Hash == "" {
		return errors.New("postgres: create family: empty family ID or token hash")
	}
	if !isUUID(f.UserID) {
		return fmt.Errorf("postgres: create family: user: %w", store.ErrNotFound)
	}
	if !allText(f.ID, f.ClientID, f.Username, f.Scope, t.Hash, t.ReplacedBy, f.DPoPJKT) {
		return errNotText("create family", "a field")
	}
	idle := t.IdleExpiresAt
	if idle.After(f.ExpiresAt) {
		idle = f.ExpiresAt
	}
	tag, err := s.pool.Exec(ctx, createFamilySQL,
		f.ID, f.ClientID, f.UserID, f.Username, f.Scope, utc(f.CreatedAt), utc(f.ExpiresAt), nullTime(f.RevokedAt),
		t.Hash, utc(t.IssuedAt), utc(idle), nullTime(t.ConsumedAt), nullText(t.ReplacedBy), f.UserEpoch, f.DPoPJKT)
	if err != nil {
		return wrap("create family", err)
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	// Nothing stored: say whether the user is gone or its session ended.
	var exists bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM users WHERE id = $1)`, f.UserID).Scan(&exists); err != nil {
		return wrap("create family", err)
	}
	if !exists {
		return fmt.Errorf("postgres: create family: user: %w", store.ErrNotFound)
	}
	return fmt.Errorf("postgres: create family: user disabled or credentials changed: %w", store.ErrRevoked)
}

// rotateSQL is the happy path of Rotate in one statement, so a refresh is
// one round trip: consume the presented token if it is live, the client's,
// its user enabled and the requested scope ($7, NULL for none) within the
// family's, and insert its successor from the same row. Concurrent calls
// queue on the token's row lock; after the winner commits, PostgreSQL
// re-checks `consumed_at IS NULL` on the new row version (READ COMMITTED),
// so every other call updates nothing. The statement is atomic: if the
// INSERT fails, the UPDATE is undone. array_remove drops the empty element
// string_to_array yields for repeated spaces, so an empty requested token
// never matches. The user's roles and attributes come back from the row
// the statement already joins, so the refreshed access token carries the
// user's current profile at no extra round trip.
const rotateSQL = `
WITH consumed AS (
	UPDATE refresh_tokens AS t
	   SET consumed_at = $3, replaced_by = $4
	  FROM refresh_families AS f, users AS u
	 WHERE t.hash = $1
	   AND f.id = t.family_id
	   AND f.client_id = $2
	   AND (f.dpop_jkt = '' OR f.dpop_jkt = $8)
	   AND u.id = f.user_id
	   AND NOT u.disabled
	   AND u.credential_epoch = f.user_epoch
	   AND ($7::text[] IS NULL OR array_remove(string_to_array(f.scope, ' '), '') @> $7::text[])
	   AND t.consumed_at IS NULL
	   AND f.revoked_at IS NULL
	   AND f.expires_at > $3
	   AND t.idle_expires_at > $3
	RETURNING f.id, f.client_id, f.user_id, f.username, f.scope, f.created_at, f.expires_at, f.user_epoch,
	          f.dpop_jkt, u.roles, u.attributes
), successor AS (
	INSERT INTO refresh_tokens (hash, family_id, issued_at, idle_expires_at)
	SELECT $4, id, $5, LEAST($6::timestamptz, expires_at) FROM consumed
)
SELECT id, client_id, user_id::text, username, scope, created_at, expires_at, user_epoch, dpop_jkt, roles, attributes FROM consumed`

// Rotate consumes req.OldHash and stores req.New (RFC 9700 §4.14.2 refresh
// token rotation). The common case is one statement; only when it changes
// nothing does a transaction find out why, in the contract's order:
// ErrNotFound, ErrScope, ErrRevoked (family revoked or user disabled),
// ErrExpired, then leeway or ErrReused.
func (s *Store) Rotate(ctx context.Context, req store.RotateRequest) (store.RefreshFamily, error) {
	if req.New.Hash == "" || req.OldHash == "" {
		return store.RefreshFamily{}, errors.New("postgres: rotate: empty token hash")
	}
	if !allText(req.OldHash, req.ClientID) {
		return store.RefreshFamily{}, notFoundNotText("rotate")
	}
	if !isText(req.DPoPJKT) {
		return store.RefreshFamily{}, fmt.Errorf("postgres: rotate: %w", store.ErrKeyBinding)
	}
	if !isText(req.New.Hash) || !allText(req.Scope...) {
		return store.RefreshFamily{}, errNotText("rotate", "new hash or scope")
	}
	var f store.RefreshFamily
	var attrs []byte
	err := s.pool.QueryRow(ctx, rotateSQL, req.OldHash, req.ClientID, utc(req.Now), req.New.Hash,
		utc(req.New.IssuedAt), utc(req.New.IdleExpiresAt), req.Scope, req.DPoPJKT,
	).Scan(&f.ID, &f.ClientID, &f.UserID, &f.Username, &f.Scope, &f.CreatedAt, &f.ExpiresAt, &f.UserEpoch,
		&f.DPoPJKT, &f.UserRoles, &attrs)
	switch {
	case err == nil:
		f.CreatedAt, f.ExpiresAt = f.CreatedAt.UTC(), f.ExpiresAt.UTC()
		return withUserProfile(f, f.UserRoles, attrs)
	case !errors.Is(err, pgx.ErrNoRows):
		return store.RefreshFamily{}, wrap("rotate", err)
	}
	var result error
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var txErr error
		f, result, txErr = rotateSlowPath(ctx, tx, req)
		return txErr
	})
	if err != nil {
		return store.RefreshFamily{}, wrap("rotate", err)
	}
	if result != nil {
		return f, fmt.Errorf("postgres: rotate: %w", result)
	}
	return f, nil
}

// withUserProfile sets the family's UserRoles and UserAttributes from the
// user row Rotate read.
func withUserProfile(f store.RefreshFamily, roles []string, attrs []byte) (store.RefreshFamily, error) {
	f.UserRoles = nilIfEmpty(roles)
	var err error
	if f.UserAttributes, err = decodeAttributes(attrs); err != nil {
		return store.RefreshFamily{}, fmt.Errorf("postgres: rotate: %w", err)
	}
	return f, nil
}

// rotateSlowPath runs in a transaction holding the presented token's row
// lock. It returns the family, the contract's verdict, and txErr for a
// database failure (which rolls everything back).
func rotateSlowPath(ctx context.Context, tx pgx.Tx, req store.RotateRequest) (f store.RefreshFamily, verdict, txErr error) {
	var old store.RefreshToken
	var consumedAt, revokedAt *time.Time
	var replacedBy *string
	var userDisabled bool
	var roles []string
	var attrs []byte
	// The user is outer-joined so that a missing one reads as disabled
	// (deleting a user deletes its families, so this is belt and braces); a
	// user whose credentials changed since the login reads as disabled too.
	err := tx.QueryRow(ctx, `
		SELECT t.issued_at, t.idle_expires_at, t.consumed_at, t.replaced_by,
		       f.id, f.client_id, f.user_id::text, f.username, f.scope, f.created_at, f.expires_at, f.revoked_at,
		       f.user_epoch, f.dpop_jkt, COALESCE(u.disabled OR u.credential_epoch <> f.user_epoch, true),
		       COALESCE(u.roles, '{}'), COALESCE(u.attributes, '{}')
		  FROM refresh_tokens AS t
		  JOIN refresh_families AS f ON f.id = t.family_id
		  LEFT JOIN users AS u ON u.id = f.user_id
		 WHERE t.hash = $1
		   FOR UPDATE OF t`, req.OldHash,
	).Scan(&old.IssuedAt, &old.IdleExpiresAt, &consumedAt, &replacedBy,
		&f.ID, &f.ClientID, &f.UserID, &f.Username, &f.Scope, &f.CreatedAt, &f.ExpiresAt, &revokedAt,
		&f.UserEpoch, &f.DPoPJKT, &userDisabled, &roles, &attrs)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.RefreshFamily{}, store.ErrNotFound, nil
	}
	if err != nil {
		return store.RefreshFamily{}, nil, err
	}
	f.CreatedAt, f.ExpiresAt, f.RevokedAt = f.CreatedAt.UTC(), f.ExpiresAt.UTC(), fromNull(revokedAt)
	now := req.Now.UTC()
	switch {
	case f.ClientID != req.ClientID:
		// Another client's token must look unknown (RFC 6749 §6: the
		// refresh token is bound to the client it was issued to).
		return store.RefreshFamily{}, store.ErrNotFound, nil
	case f.DPoPJKT != "" && f.DPoPJKT != req.DPoPJKT:
		// RFC 9449 §5: a bound refresh token needs a proof by its key;
		// refused before reuse detection, so a thief without the key
		// cannot end the session either.
		return f, store.ErrKeyBinding, nil
	case !store.ScopeWithin(req.Scope, f.Scope):
		// RFC 6749 §6: the requested scope MUST NOT exceed the grant.
		return f, store.ErrScope, nil
	case !f.RevokedAt.IsZero(), userDisabled:
		return f, store.ErrRevoked, nil
	case !now.Before(f.ExpiresAt) || !now.Before(old.IdleExpiresAt):
		return f, store.ErrExpired, nil
	case consumedAt == nil:
		// Live after all (it changed between the two statements): rotate
		// under the lock.
		if _, err := tx.Exec(ctx, `UPDATE refresh_tokens SET consumed_at = $2, replaced_by = $3 WHERE hash = $1`,
			req.OldHash, now, req.New.Hash); err != nil {
			return f, nil, err
		}
		if f, err = withUserProfile(f, roles, attrs); err != nil {
			return f, nil, err
		}
		return f, nil, insertSuccessor(ctx, tx, f, req.New)
	}
	// Consumed. Within the leeway a client may retry a lost response: the
	// unused successor is consumed too and the presented token now points
	// at the new one, so the family keeps exactly one live token.
	if req.ReuseLeeway > 0 && replacedBy != nil && now.Sub(consumedAt.UTC()) <= req.ReuseLeeway {
		tag, err := tx.Exec(ctx, `
			UPDATE refresh_tokens SET consumed_at = $3
			 WHERE hash = $1 AND family_id = $2 AND consumed_at IS NULL`,
			*replacedBy, f.ID, now)
		if err != nil {
			return f, nil, err
		}
		if tag.RowsAffected() == 1 {
			if _, err := tx.Exec(ctx, `UPDATE refresh_tokens SET replaced_by = $2 WHERE hash = $1`,
				req.OldHash, req.New.Hash); err != nil {
				return f, nil, err
			}
			if f, err = withUserProfile(f, roles, attrs); err != nil {
				return f, nil, err
			}
			return f, nil, insertSuccessor(ctx, tx, f, req.New)
		}
	}
	// Reuse of a consumed token: treat the family as compromised and revoke
	// it with one update of the family row (RFC 9700 §4.14.2). A revocation
	// that raced in first is kept.
	var at time.Time
	if err := tx.QueryRow(ctx,
		`UPDATE refresh_families SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1 RETURNING revoked_at`,
		f.ID, now).Scan(&at); err != nil {
		return f, nil, err
	}
	f.RevokedAt = at.UTC()
	return f, store.ErrReused, nil
}

// insertSuccessor stores the new token of family f, clamped to its expiry.
func insertSuccessor(ctx context.Context, tx pgx.Tx, f store.RefreshFamily, t store.RefreshToken) error {
	idle := t.IdleExpiresAt
	if idle.After(f.ExpiresAt) {
		idle = f.ExpiresAt
	}
	_, err := tx.Exec(ctx, `INSERT INTO refresh_tokens (hash, family_id, issued_at, idle_expires_at) VALUES ($1, $2, $3, $4)`,
		t.Hash, f.ID, utc(t.IssuedAt), utc(idle))
	return err
}

// Lookup returns a token and its family by hash. It changes nothing.
func (s *Store) Lookup(ctx context.Context, hash string) (store.RefreshToken, store.RefreshFamily, error) {
	if !isText(hash) {
		return store.RefreshToken{}, store.RefreshFamily{}, notFoundNotText("lookup")
	}
	var t store.RefreshToken
	var f store.RefreshFamily
	var consumedAt, revokedAt *time.Time
	var replacedBy *string
	err := s.pool.QueryRow(ctx, `
		SELECT t.hash, t.family_id, t.issued_at, t.idle_expires_at, t.consumed_at, t.replaced_by,
		       f.id, f.client_id, f.user_id::text, f.username, f.scope, f.created_at, f.expires_at, f.revoked_at,
		       f.user_epoch, f.dpop_jkt
		  FROM refresh_tokens AS t
		  JOIN refresh_families AS f ON f.id = t.family_id
		 WHERE t.hash = $1`, hash,
	).Scan(&t.Hash, &t.FamilyID, &t.IssuedAt, &t.IdleExpiresAt, &consumedAt, &replacedBy,
		&f.ID, &f.ClientID, &f.UserID, &f.Username, &f.Scope, &f.CreatedAt, &f.ExpiresAt, &revokedAt, &f.UserEpoch, &f.DPoPJKT)
	if err != nil {
		return store.RefreshToken{}, store.RefreshFamily{}, wrap("lookup", err)
	}
	t.IssuedAt, t.IdleExpiresAt = t.IssuedAt.UTC(), t.IdleExpiresAt.UTC()
	t.ConsumedAt, t.ReplacedBy = fromNull(consumedAt), fromNullText(replacedBy)
	f.CreatedAt, f.ExpiresAt, f.RevokedAt = f.CreatedAt.UTC(), f.ExpiresAt.UTC(), fromNull(revokedAt)
	return t, f, nil
}

// RevokeFamily sets RevokedAt = at unless the family is already revoked.
func (s *Store) RevokeFamily(ctx context.Context, familyID string, at time.Time) error {
	if !isText(familyID) {
		return notFoundNotText("revoke family")
	}
	tag, err := s.pool.Exec(ctx,
		`UPDATE refresh_families SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1`, familyID, utc(at))
	if err != nil {
		return wrap("revoke family", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: revoke family: %w", store.ErrNotFound)
	}
	return nil
}

// RevokeUserFamilies increments the user's credential epoch and revokes
// every family of the user that is neither revoked nor expired at `at`, in
// one statement, and returns the families' IDs sorted.
func (s *Store) RevokeUserFamilies(ctx context.Context, userID string, at time.Time) ([]string, error) {
	if !isUUID(userID) {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, `
		WITH bump AS (
			UPDATE users SET credential_epoch = credential_epoch + 1 WHERE id = $1
		)
		UPDATE refresh_families SET revoked_at = $2
		 WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2
		RETURNING id`, userID, utc(at))
	if err != nil {
		return nil, wrap("revoke user families", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, wrap("revoke user families", err)
	}
	slices.Sort(ids)
	return ids, nil
}

// UserSessions implements store.SessionLister in one statement: the live
// families of an enabled user at its current epoch, each with its newest
// token's issue time.
func (s *Store) UserSessions(ctx context.Context, userID string, at time.Time) ([]store.SessionInfo, error) {
	if !isUUID(userID) {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, `
		SELECT f.id, f.client_id, f.scope, f.created_at, f.expires_at,
			(SELECT max(t.issued_at) FROM refresh_tokens t WHERE t.family_id = f.id)
		FROM refresh_families f JOIN users u ON u.id = f.user_id
		WHERE f.user_id = $1 AND f.revoked_at IS NULL AND f.expires_at > $2
		  AND NOT u.disabled AND u.credential_epoch = f.user_epoch
		  AND EXISTS (SELECT 1 FROM refresh_tokens t
		              WHERE t.family_id = f.id AND t.consumed_at IS NULL AND t.idle_expires_at > $2)
		ORDER BY f.created_at, f.id COLLATE "C"`, userID, utc(at))
	if err != nil {
		return nil, wrap("user sessions", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.SessionInfo, error) {
		var si store.SessionInfo
		var last *time.Time
		if err := r.Scan(&si.ID, &si.ClientID, &si.Scope, &si.CreatedAt, &si.ExpiresAt, &last); err != nil {
			return si, err
		}
		si.CreatedAt, si.ExpiresAt, si.LastUsedAt = si.CreatedAt.UTC(), si.ExpiresAt.UTC(), fromNull(last)
		return si, nil
	})
	return out, wrap("user sessions", err)
}
