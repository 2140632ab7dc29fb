package tokenserver

import (
	"context"
	"testing"

	"github.com/tokenserver/tokenserver/keys"
	"github.com/tokenserver/tokenserver/store"
)

// newTestKeys returns a real *keys.Manager with freshly generated keys in
// ks, on the harness clock.
func newTestKeys(t testing.TB, clock *testClock, ks store.KeyStore) Keys {
	t.Helper()
	kek, err := keys.RandomKEK()
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := keys.NewSealer(kek)
	if err != nil {
		t.Fatal(err)
	}
	m, err := keys.NewManager(context.Background(), keys.Config{Store: ks, Sealer: sealer, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return m
}
