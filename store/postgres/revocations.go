package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tokenserver/tokenserver/store"
)

// Revoke records r with one upsert. For the same (Kind, Value) the later
// NotBefore and ExpiresAt win and the first CreatedAt stays; an entry that
// had already expired when r was created (by r.CreatedAt) is replaced
// outright, as if it had been forgotten.
func (s *Store) Revoke(ctx context.Context, r store.Revocation) error {
	switch r.Kind {
	case store.RevokeJTI, store.RevokeSID, store.RevokeSub, store.RevokeKID:
	default:
		return fmt.Errorf("postgres: revoke: unknown kind %q", r.Kind)
	}
	if r.Value == "" {
		return fmt.Errorf("postgres: revoke: empty value")
	}
	_, err := s.pool.Exec(ctx, `
		INSERT INTO revocations AS r (kind, value, not_before, expires_at, created_at)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (kind, value) DO UPDATE SET
			not_before = CASE WHEN r.expires_at <= EXCLUDED.created_at THEN EXCLUDED.not_before
			                  ELSE GREATEST(r.not_before, EXCLUDED.not_before) END,
			expires_at = CASE WHEN r.expires_at <= EXCLUDED.created_at THEN EXCLUDED.expires_at
			                  ELSE GREATEST(r.expires_at, EXCLUDED.expires_at) END,
			created_at = CASE WHEN r.expires_at <= EXCLUDED.created_at THEN EXCLUDED.created_at
			                  ELSE LEAST(r.created_at, EXCLUDED.created_at) END`,
		string(r.Kind), r.Value, nullTime(r.NotBefore), utc(r.ExpiresAt), utc(r.CreatedAt))
	return wrap("revoke", err)
}

// IsRevoked checks the token's jti, sid, sub and kid in one indexed query. `iat`
// has whole-second precision (RFC 7519 §2 NumericDate), so a `sub` entry
// revokes tokens issued up to and including NotBefore's second.
func (s *Store) IsRevoked(ctx context.Context, q store.RevocationQuery, now time.Time) (bool, error) {
	var revoked bool
	err := s.pool.QueryRow(ctx, `
		SELECT EXISTS (
			SELECT 1 FROM revocations
			 WHERE (kind, value) IN (('jti', $1), ('sid', $2), ('sub', $3), ('kid', $6))
			   AND value <> ''
			   AND expires_at > $4
			   AND (kind <> 'sub' OR floor(extract(epoch FROM not_before)) >= $5))`,
		q.JTI, q.SID, q.Sub, utc(now), q.IssuedAt.Unix(), q.KID,
	).Scan(&revoked)
	if err != nil {
		return false, wrap("is revoked", err)
	}
	return revoked, nil
}

// Active returns every entry not yet expired at now, ordered by kind, then
// value.
func (s *Store) Active(ctx context.Context, now time.Time) ([]store.Revocation, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT kind, value, not_before, expires_at, created_at
		  FROM revocations
		 WHERE expires_at > $1
		 ORDER BY kind COLLATE "C", value COLLATE "C"`, utc(now))
	if err != nil {
		return nil, wrap("active revocations", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.Revocation, error) {
		var r store.Revocation
		var kind string
		var notBefore *time.Time
		if err := row.Scan(&kind, &r.Value, &notBefore, &r.ExpiresAt, &r.CreatedAt); err != nil {
			return r, err
		}
		r.Kind, r.NotBefore = store.RevocationKind(kind), fromNull(notBefore)
		r.ExpiresAt, r.CreatedAt = r.ExpiresAt.UTC(), r.CreatedAt.UTC()
		return r, nil
	})
	return out, wrap("active revocations", err)
}
