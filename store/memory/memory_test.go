package memory_test

import (
	"testing"

	"github.com/tokenserver/tokenserver/store"
	"github.com/tokenserver/tokenserver/store/memory"
	"github.com/tokenserver/tokenserver/store/storetest"
)

// The memory store runs on the wall clock here: the suites use real time.
func TestUserStore(t *testing.T) {
	storetest.TestUserStore(t, func(*testing.T) store.UserStore { return memory.New(nil) })
}

func TestClientStore(t *testing.T) {
	storetest.TestClientStore(t, func(*testing.T) store.ClientStore { return memory.New(nil) })
}

func TestRefreshTokenStore(t *testing.T) {
	storetest.TestRefreshTokenStore(t, func(*testing.T) storetest.RefreshStores {
		s := memory.New(nil)
		return storetest.RefreshStores{Users: s, Clients: s, Refresh: s}
	})
}

func TestRevocationStore(t *testing.T) {
	storetest.TestRevocationStore(t, func(*testing.T) store.RevocationStore { return memory.New(nil) })
}

func TestRevocationFeed(t *testing.T) {
	storetest.TestRevocationFeed(t, func(*testing.T) store.RevocationFeed { return memory.New(nil) })
}

func TestLoginThrottle(t *testing.T) {
	storetest.TestLoginThrottle(t, func(*testing.T) store.LoginThrottle { return memory.New(nil) })
}

func TestKeyStore(t *testing.T) {
	storetest.TestKeyStore(t, func(*testing.T) store.KeyStore { return memory.New(nil) })
}

func TestRevocationLog(t *testing.T) {
	storetest.TestRevocationLog(t, func(*testing.T) storetest.LoggedRevocations { return memory.New(nil) })
}

func TestTokenLifetimes(t *testing.T) {
	storetest.TestTokenLifetimes(t, func(*testing.T) storetest.LifetimeStores {
		s := memory.New(nil)
		return storetest.LifetimeStores{Clients: s, Lifetimes: s}
	})
}

func TestUserPager(t *testing.T) {
	storetest.TestUserPager(t, func(t *testing.T) storetest.PagedUsers { return memory.New(nil) })
}

func TestSessionLister(t *testing.T) {
	storetest.TestSessionLister(t, func(t *testing.T) storetest.RefreshStores {
		s := memory.New(nil)
		return storetest.RefreshStores{Users: s, Clients: s, Refresh: s}
	})
}

func TestClientUpdater(t *testing.T) {
	storetest.TestClientUpdater(t, func(t *testing.T) storetest.UpdatableClients { return memory.New(nil) })
}
