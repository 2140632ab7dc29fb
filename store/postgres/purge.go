package postgres

import (
	"context"
	"time"

	"github.com/tokenserver/tokenserver/store"
)

var _ store.Purger = (*Store)(nil)

// purgeBatch bounds each DELETE so that purging a large backlog never holds
// locks or bloats one transaction for long.
const purgeBatch = 5000

// Purge implements store.Purger in batches of purgeBatch rows.
func (s *Store) Purge(ctx context.Context, before time.Time) (int64, error) {
	before = before.UTC()
	var total int64
	for _, q := range []struct{ op, sql string }{
		{"purge revocations", `
			DELETE FROM revocations WHERE (kind, value) IN (
				SELECT kind, value FROM revocations WHERE expires_at < $1 LIMIT $2)`},
		// Tokens go with their family (ON DELETE CASCADE).
		{"purge refresh families", `
			DELETE FROM refresh_families WHERE id IN (
				SELECT id FROM refresh_families WHERE expires_at < $1
				UNION ALL
				SELECT id FROM refresh_families WHERE revoked_at < $1
				LIMIT $2)`},
	} {
		for {
			tag, err := s.pool.Exec(ctx, q.sql, before, purgeBatch)
			if err != nil {
				return total, wrap(q.op, err)
			}
			total += tag.RowsAffected()
			if tag.RowsAffected() < purgeBatch {
				break
			}
		}
	}
	return total, nil
}
