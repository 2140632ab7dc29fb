package postgres

import (
	"sync"
	"testing"

	"github.com/tokenserver/tokenserver/store/storetest"
)

// wantTables are the tables the migrations create.
var wantTables = []string{"clients", "refresh_families", "refresh_tokens", "revocations", "signing_keys", "users"}

func checkSchema(t *testing.T, s *Store) {
	t.Helper()
	for _, table := range wantTables {
		var exists bool
		if err := s.pool.QueryRow(t.Context(), `SELECT to_regclass($1) IS NOT NULL`, table).Scan(&exists); err != nil {
			t.Fatal(err)
		}
		if !exists {
			t.Errorf("table %s missing after Migrate", table)
		}
	}
	var applied int
	if err := s.pool.QueryRow(t.Context(),
		`SELECT count(*) FROM `+migrationTable+` WHERE version_id > 0 AND is_applied`).Scan(&applied); err != nil {
		t.Fatal(err)
	}
	entries, err := migrationFiles.ReadDir("migrations")
	if err != nil {
		t.Fatal(err)
	}
	if applied != len(entries) {
		t.Errorf("%d migrations recorded, want %d (each exactly once)", applied, len(entries))
	}
}

func TestMigrateTwice(t *testing.T) {
	s := newTestStore(t) // migrated once
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
	checkSchema(t, s)
}

func TestMigrateConcurrently(t *testing.T) {
	// Several instances starting at once against one empty database: the
	// advisory lock lets one migrate while the others wait.
	dsn := storetest.StartPostgres(t)
	stores := make([]*Store, 4)
	for i := range stores {
		s, err := Open(t.Context(), Config{URL: dsn})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Close)
		stores[i] = s
	}
	errs := make([]error, len(stores))
	var wg sync.WaitGroup
	for i, s := range stores {
		wg.Go(func() { errs[i] = s.Migrate(t.Context()) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Migrate #%d: %v", i, err)
		}
	}
	checkSchema(t, stores[0])
}
