package postgres

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tokenserver/tokenserver/store"
)

// keysChannel is the LISTEN/NOTIFY channel that announces key-set changes.
const keysChannel = "tokenserver_keys"

// keysLockID is the transaction-level advisory lock serialising UpdateKeys
// across instances ("tokenkey" in ASCII).
const keysLockID int64 = 0x746f6b656e6b6579

const keyColumns = `id, algorithm, state, sealed, public_jwk, created_at, activates_at, retired_at, remove_at`

// Keys returns every stored key ordered by CreatedAt (then stored order).
func (s *Store) Keys(ctx context.Context) ([]store.SigningKey, error) {
	keys, err := selectKeys(ctx, s.pool)
	return keys, wrap("keys", err)
}

type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

func selectKeys(ctx context.Context, q querier) ([]store.SigningKey, error) {
	rows, err := q.Query(ctx, `SELECT `+keyColumns+` FROM signing_keys ORDER BY created_at, position`)
	if err != nil {
		return nil, err
	}
	keys, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.SigningKey, error) {
		var k store.SigningKey
		var state string
		var retired, remove *time.Time
		if err := row.Scan(&k.ID, &k.Algorithm, &state, &k.Sealed, &k.PublicJWK,
			&k.CreatedAt, &k.ActivatesAt, &retired, &remove); err != nil {
			return k, err
		}
		k.State = store.KeyState(state)
		k.CreatedAt, k.ActivatesAt = k.CreatedAt.UTC(), k.ActivatesAt.UTC()
		k.RetiredAt, k.RemoveAt = fromNull(retired), fromNull(remove)
		return k, nil
	})
	if len(keys) == 0 {
		keys = nil
	}
	return keys, err
}

// UpdateKeys runs fn on the stored set inside one transaction holding a
// transaction-level advisory lock, so concurrent updates from any number of
// instances run one after another and each fn sees the latest set. The set
// is replaced atomically and a notification on tokenserver_keys is sent in
// the same transaction (delivered only on commit). If fn leaves the set
// unchanged nothing is written and nobody is notified. Duplicate IDs in
// fn's result are ErrConflict. fn must not call UpdateKeys.
func (s *Store) UpdateKeys(ctx context.Context, fn func([]store.SigningKey) ([]store.SigningKey, error)) error {
	var fnErr error
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, keysLockID); err != nil {
			return err
		}
		current, err := selectKeys(ctx, tx)
		if err != nil {
			return err
		}
		next, err := fn(slices.Clone(current))
		if err != nil {
			fnErr = err
			return err
		}
		next = slices.Clone(next)
		slices.SortStableFunc(next, func(a, b store.SigningKey) int { return a.CreatedAt.Compare(b.CreatedAt) })
		if keySetsEqual(current, next) {
			return nil
		}
		if _, err := tx.Exec(ctx, `DELETE FROM signing_keys`); err != nil {
			return err
		}
		batch := &pgx.Batch{}
		for i, k := range next {
			batch.Queue(`INSERT INTO signing_keys (`+keyColumns+`, position) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
				k.ID, k.Algorithm, string(k.State), nonNilBytes(k.Sealed), nonNilBytes(k.PublicJWK),
				utc(k.CreatedAt), utc(k.ActivatesAt), nullTime(k.RetiredAt), nullTime(k.RemoveAt), i)
		}
		batch.Queue(`SELECT pg_notify($1, '')`, keysChannel)
		return tx.SendBatch(ctx, batch).Close()
	})
	if fnErr != nil {
		return fmt.Errorf("postgres: update keys: %w", fnErr)
	}
	return wrap("update keys", err)
}

// keySetsEqual reports whether two sets in stored order are the same.
func keySetsEqual(a, b []store.SigningKey) bool {
	return slices.EqualFunc(a, b, func(x, y store.SigningKey) bool {
		return x.ID == y.ID && x.Algorithm == y.Algorithm && x.State == y.State &&
			bytes.Equal(x.Sealed, y.Sealed) && bytes.Equal(x.PublicJWK, y.PublicJWK) &&
			sameTime(x.CreatedAt, y.CreatedAt) && sameTime(x.ActivatesAt, y.ActivatesAt) &&
			sameTime(x.RetiredAt, y.RetiredAt) && sameTime(x.RemoveAt, y.RemoveAt)
	})
}

// sameTime compares at the microsecond precision PostgreSQL keeps.
func sameTime(a, b time.Time) bool {
	return a.Truncate(time.Microsecond).Equal(b.Truncate(time.Microsecond))
}

func nonNilBytes(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
