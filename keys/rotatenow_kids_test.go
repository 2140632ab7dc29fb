package keys

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/tokenserver/tokenserver/store"
)

// RotateNowKIDs names exactly the keys it unpublished: the current key of
// every algorithm, including one the calling instance does not sign with,
// and not a key retired earlier by a scheduled rotation (it stays
// published until its RemoveAt).
func TestRotateNowKIDs(t *testing.T) {
	env := newEnv(t)
	ctx := context.Background()
	server := env.manager(func(c *Config) { c.PublishAlgorithms = []string{EdDSA} })
	env.clock.Advance(activation)
	if err := server.Rotate(ctx); err != nil { // leaves a retired, still published key per algorithm
		t.Fatal(err)
	}
	cli := env.manager() // configured with ES256 only
	want := []string{keyOf(t, cli, ES256, store.KeyCurrent).ID, keyOf(t, cli, EdDSA, store.KeyCurrent).ID}
	slices.Sort(want)

	env.clock.Advance(time.Second)
	got, err := cli.RotateNowKIDs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("RotateNowKIDs = %v, want the former current keys %v", got, want)
	}
	for _, k := range cli.Keys() {
		if slices.Contains(want, k.ID) != !k.Published {
			t.Errorf("key %s (%s): published %v after RotateNow, reported %v", k.ID, k.State, k.Published, slices.Contains(want, k.ID))
		}
	}
}

func TestRotateNowKIDsStaticKeys(t *testing.T) {
	m := staticManager(t)
	if kids, err := m.RotateNowKIDs(context.Background()); !errors.Is(err, ErrStaticKeys) || kids != nil {
		t.Fatalf("RotateNowKIDs = %v, %v; want ErrStaticKeys", kids, err)
	}
}
