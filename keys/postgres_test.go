package keys

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/tokenserver/tokenserver/store"
	"github.com/tokenserver/tokenserver/store/postgres"
	"github.com/tokenserver/tokenserver/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

// postgresStores opens n stores (n connection pools, like n instances) on
// one fresh, migrated database.
func postgresStores(t *testing.T, n int) []*postgres.Store {
	t.Helper()
	dsn := storetest.StartPostgres(t)
	out := make([]*postgres.Store, n)
	for i := range out {
		s, err := postgres.Open(t.Context(), postgres.Config{URL: dsn, ConnectTimeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Close)
		if i == 0 {
			if err := s.Migrate(t.Context()); err != nil {
				t.Fatal(err)
			}
		}
		out[i] = s
	}
	return out
}

func TestPostgresConcurrentRotations(t *testing.T) {
	stores := postgresStores(t, 2)
	c := newClock()
	sealer := newTestSealer(t)
	ms := make([]*Manager, 2)
	var wg sync.WaitGroup
	for i := range ms { // two instances starting at once
		wg.Go(func() {
			m, err := NewManager(t.Context(), Config{Store: stores[i], Sealer: sealer, Now: c.Now})
			if err != nil {
				t.Error(err)
			}
			ms[i] = m
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	c.Advance(time.Hour)
	errs := make([]error, 10)
	for i := range 10 {
		wg.Go(func() {
			if i%3 == 0 {
				errs[i] = ms[i%2].RotateNow(t.Context())
			} else {
				errs[i] = ms[i%2].Rotate(t.Context())
			}
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil && !errors.Is(err, ErrTooEarly) {
			t.Errorf("call %d: %v", i, err)
		}
	}
	set, err := stores[0].Keys(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	states := map[store.KeyState]int{}
	for _, k := range set {
		states[k.State]++
	}
	if states[store.KeyCurrent] != 1 || states[store.KeyNext] != 1 {
		t.Fatalf("states after concurrent rotations: %v", states)
	}
	for _, m := range ms {
		if err := m.Reload(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if a, b := signingKidOf(t, ms[0]), signingKidOf(t, ms[1]); a != b {
		t.Fatalf("instances sign with %s and %s", a, b)
	}
	b0, e0 := ms[0].JWKS()
	b1, e1 := ms[1].JWKS()
	if string(b0) != string(b1) || e0 != e1 {
		t.Fatal("instances serve different JWKS for one set")
	}
}

func TestPostgresWatcherPropagatesEmergencyRotation(t *testing.T) {
	stores := postgresStores(t, 2)
	c := newClock()
	sealer := newTestSealer(t)
	// RefreshInterval is an hour: only LISTEN/NOTIFY can bring the change.
	cfg := Config{Sealer: sealer, Now: c.Now, RefreshInterval: time.Hour}
	cfg.Store = stores[0]
	watching, err := NewManager(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Store = stores[1]
	admin, err := NewManager(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	leaked := mustSign(t, watching, `{}`)
	startRun(t, watching)
	// Run marks itself running once it LISTENs (a NOTIFY before that is lost).
	eventually(t, "Run to start", watching.running.Load)
	if err := admin.RotateNow(context.Background()); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the emergency rotation to reach the other instance", func() bool {
		_, err := watching.Verify(leaked)
		return err != nil
	})
	if got, want := signingKidOf(t, watching), signingKidOf(t, admin); got != want {
		t.Fatalf("watching instance signs with %s, want %s", got, want)
	}
}

func TestPostgresWrongKEK(t *testing.T) {
	s := postgresStores(t, 1)[0]
	c := newClock()
	if _, err := NewManager(t.Context(), Config{Store: s, Sealer: newTestSealer(t), Now: c.Now}); err != nil {
		t.Fatal(err)
	}
	_, err := NewManager(t.Context(), Config{Store: s, Sealer: newTestSealer(t), Now: c.Now})
	if !errors.Is(err, ErrWrongKEK) {
		t.Fatalf("NewManager with another KEK: %v", err)
	}
}
