package keys

import (
	"context"
	"errors"
	"testing"
)

// TestListIsReadOnly: List describes the stored set and never writes: on
// an empty store it creates no key, and on a set whose next key is due it
// neither rotates nor prunes.
func TestListIsReadOnly(t *testing.T) {
	t.Run("empty store", func(t *testing.T) {
		env := newEnv(t)
		got, err := List(context.Background(), env.config())
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 0 || len(env.stored()) != 0 {
			t.Fatalf("List on an empty store: %d keys listed, %d stored; want none", len(got), len(env.stored()))
		}
	})
	t.Run("existing set", func(t *testing.T) {
		env := newEnv(t)
		m := env.manager()
		want := m.Keys()
		env.clock.Advance(DefaultRotationPeriod * 2) // rotation long overdue
		before := env.stored()
		got, err := List(context.Background(), env.config())
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("listed %d keys, want %d", len(got), len(want))
		}
		for i := range got {
			if got[i].ID != want[i].ID || got[i].State != want[i].State || got[i].Signing != want[i].Signing {
				t.Errorf("key %d: %+v, want %+v", i, got[i], want[i])
			}
		}
		after := env.stored()
		if len(after) != len(before) {
			t.Fatalf("List changed the set from %d to %d keys", len(before), len(after))
		}
		for i := range after {
			if after[i].ID != before[i].ID || after[i].State != before[i].State {
				t.Errorf("List changed key %d: %s %s → %s %s", i, before[i].ID, before[i].State, after[i].ID, after[i].State)
			}
		}
	})
	t.Run("wrong KEK", func(t *testing.T) {
		env := newEnv(t)
		env.manager()
		cfg := env.config()
		cfg.Sealer = newTestSealer(t)
		if _, err := List(context.Background(), cfg); !errors.Is(err, ErrWrongKEK) {
			t.Fatalf("List with another KEK: %v, want ErrWrongKEK", err)
		}
	})
}
