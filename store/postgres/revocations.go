package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tokenserver/tokenserver/store"
)

// revocationsLockID is the transaction-level advisory lock every Revoke
// holds while it takes its seq and commits, so that seq order is commit
// order (store.RevocationLog): without it, seq 9 could commit after seq 10
// had been relayed, and be skipped.
const revocationsLockID int64 = 0x746f6b656e726576 // "tokenrev"

// revokeSQL upserts one entry. For the same (Kind, Value) the later
// NotBefore and ExpiresAt win and the first CreatedAt stays; an entry that
// had already expired when r was created (by r.CreatedAt) is replaced
// outright, as if it had been forgotten. Every change takes a new seq.
const revokeSQL = `
INSERT INTO revocations AS r (kind, value, not_before, expires_at, created_at, seq)
VALUES ($1, $2, $3, $4, $5, nextval('revocations_seq'))
ON CONFLICT (kind, value) DO UPDATE SET
	not_before = CASE WHEN r.expires_at <= EXCLUDED.created_at THEN EXCLUDED.not_before
	                  ELSE GREATEST(r.not_before, EXCLUDED.not_before) END,
	expires_at = CASE WHEN r.expires_at <= EXCLUDED.created_at THEN EXCLUDED.expires_at
	                  ELSE GREATEST(r.expires_at, EXCLUDED.expires_at) END,
	created_at = CASE WHEN r.expires_at <= EXCLUDED.created_at THEN EXCLUDED.created_at
	                  ELSE LEAST(r.created_at, EXCLUDED.created_at) END,
	seq = EXCLUDED.seq`

// Revoke records r (revokeSQL) in a transaction holding revocationsLockID.
// Revocations are rare next to the reads, so serialising their commits
// costs nothing that matters and buys an exact log.
func (s *Store) Revoke(ctx context.Context, r store.Revocation) error {
	switch r.Kind {
	case store.RevokeJTI, store.RevokeSID, store.RevokeSub, store.RevokeKID:
	default:
		return fmt.Errorf("postgres: revoke: unknown kind %q", r.Kind)
	}
	if r.Value == "" {
		return fmt.Errorf("postgres: revoke: empty value")
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, revocationsLockID); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, revokeSQL,
			string(r.Kind), r.Value, nullTime(r.NotBefore), utc(r.ExpiresAt), utc(r.CreatedAt))
		return err
	})
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

var _ store.RevocationLog = (*Store)(nil)

// RevocationHead returns the highest committed seq. A Revoke still in
// flight holds revocationsLockID, so its seq is above every committed one
// and a later RevocationsAfter lists it. (Purge may have deleted the entry
// with the highest seq; a lower head only lists some entries again.)
func (s *Store) RevocationHead(ctx context.Context) (int64, error) {
	var head int64
	if err := s.pool.QueryRow(ctx, `SELECT COALESCE(max(seq), 0) FROM revocations`).Scan(&head); err != nil {
		return 0, wrap("revocation head", err)
	}
	return head, nil
}

// RevocationsAfter lists entries whose seq is above after, in seq order.
// Because Revoke commits in seq order (revocationsLockID), a seq seen
// committed means every lower one has committed or rolled back.
func (s *Store) RevocationsAfter(ctx context.Context, after int64, limit int) ([]store.Revocation, int64, error) {
	if limit <= 0 {
		return nil, after, nil
	}
	rows, err := s.pool.Query(ctx, `
		SELECT kind, value, not_before, expires_at, created_at, seq
		  FROM revocations
		 WHERE seq > $1
		 ORDER BY seq
		 LIMIT $2`, after, limit)
	if err != nil {
		return nil, after, wrap("revocations after", err)
	}
	next := after
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.Revocation, error) {
		var r store.Revocation
		var kind string
		var notBefore *time.Time
		var seq int64
		if err := row.Scan(&kind, &r.Value, &notBefore, &r.ExpiresAt, &r.CreatedAt, &seq); err != nil {
			return r, err
		}
		r.Kind, r.NotBefore = store.RevocationKind(kind), fromNull(notBefore)
		r.ExpiresAt, r.CreatedAt = r.ExpiresAt.UTC(), r.CreatedAt.UTC()
		next = max(next, seq)
		return r, nil
	})
	if err != nil {
		return nil, after, wrap("revocations after", err)
	}
	return out, next, nil
}
