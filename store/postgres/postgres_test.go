package postgres

import (
	"testing"
	"time"

	"github.com/tokenserver/tokenserver/store"
	"github.com/tokenserver/tokenserver/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

// newTestStore opens a migrated store on a fresh database.
func newTestStore(t testing.TB) *Store {
	t.Helper()
	return openTestStore(t, storetest.StartPostgres(t))
}

// openTestStore opens and migrates a store on dsn, closed with the test.
func openTestStore(t testing.TB, dsn string) *Store {
	t.Helper()
	s, err := Open(t.Context(), Config{URL: dsn, ConnectTimeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(s.Close)
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return s
}

func TestUserStore(t *testing.T) {
	storetest.TestUserStore(t, func(t *testing.T) store.UserStore { return newTestStore(t) })
}

func TestClientStore(t *testing.T) {
	storetest.TestClientStore(t, func(t *testing.T) store.ClientStore { return newTestStore(t) })
}

func TestRefreshTokenStore(t *testing.T) {
	storetest.TestRefreshTokenStore(t, func(t *testing.T) storetest.RefreshStores {
		s := newTestStore(t)
		return storetest.RefreshStores{Users: s, Clients: s, Refresh: s}
	})
}

func TestRevocationStore(t *testing.T) {
	storetest.TestRevocationStore(t, func(t *testing.T) store.RevocationStore { return newTestStore(t) })
}

func TestKeyStore(t *testing.T) {
	storetest.TestKeyStore(t, func(t *testing.T) store.KeyStore { return newTestStore(t) })
}

func TestRevocationLog(t *testing.T) {
	storetest.TestRevocationLog(t, func(t *testing.T) storetest.LoggedRevocations { return newTestStore(t) })
}

func TestTokenLifetimes(t *testing.T) {
	storetest.TestTokenLifetimes(t, func(t *testing.T) storetest.LifetimeStores {
		s := newTestStore(t)
		return storetest.LifetimeStores{Clients: s, Lifetimes: s}
	})
}

func TestUserPager(t *testing.T) {
	storetest.TestUserPager(t, func(t *testing.T) storetest.PagedUsers { return newTestStore(t) })
}

func TestSessionLister(t *testing.T) {
	storetest.TestSessionLister(t, func(t *testing.T) storetest.RefreshStores {
		s := newTestStore(t)
		return storetest.RefreshStores{Users: s, Clients: s, Refresh: s}
	})
}

func TestClientUpdater(t *testing.T) {
	storetest.TestClientUpdater(t, func(t *testing.T) storetest.UpdatableClients { return newTestStore(t) })
}
