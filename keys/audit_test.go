package keys

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/tokenserver/tokenserver/audit"
	"github.com/tokenserver/tokenserver/audit/audittest"
)

// TestKeyRotatedEvents: every rotation this instance makes is one
// key.rotated event naming the key that signs now; a refused rotation and
// another instance loading the new set report nothing.
func TestKeyRotatedEvents(t *testing.T) {
	tests := []struct {
		name      string
		rotate    func(context.Context, *testEnv, *Manager) error
		emergency bool
		none      bool
	}{
		{"planned", func(ctx context.Context, env *testEnv, m *Manager) error {
			env.clock.Advance(activation)
			return m.Rotate(ctx)
		}, false, false},
		{"scheduled", func(ctx context.Context, env *testEnv, m *Manager) error {
			env.clock.Advance(DefaultRotationPeriod)
			return m.Maintain(ctx)
		}, false, false},
		{"emergency", func(ctx context.Context, _ *testEnv, m *Manager) error {
			_, err := m.RotateNowKIDs(ctx)
			return err
		}, true, false},
		{"too early", func(ctx context.Context, _ *testEnv, m *Manager) error {
			if err := m.Rotate(ctx); err == nil {
				t.Fatal("Rotate before the next key may activate succeeded")
			}
			return nil
		}, false, true},
		{"nothing due", func(ctx context.Context, _ *testEnv, m *Manager) error { return m.Maintain(ctx) }, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			env := newEnv(t)
			rec := &audittest.Recorder{}
			m := env.manager(func(c *Config) { c.Audit = rec })
			other := env.manager(func(c *Config) { c.Audit = rec })
			rec.Take() // creating the set is no rotation
			if err := tt.rotate(ctx, env, m); err != nil {
				t.Fatal(err)
			}
			if err := other.Reload(ctx); err != nil {
				t.Fatal(err)
			}
			got := rec.Take()
			if tt.none {
				if len(got) != 0 {
					t.Fatalf("events = %+v, want none", got)
				}
				return
			}
			want := []audit.Event{{Type: audit.KeyRotated, Time: env.clock.Now().UTC().Truncate(time.Microsecond),
				KID: signingKidOf(t, m), Emergency: tt.emergency}}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("events:\n got %+v\nwant %+v", got, want)
			}
			out := audittest.Render(t, got[0])
			var line map[string]any
			if err := json.Unmarshal([]byte(out), &line); err != nil {
				t.Fatal(err)
			}
			if line["emergency"] != tt.emergency || line["kid"] != want[0].KID {
				t.Errorf("line = %s", out)
			}
			for _, k := range []string{"sealed", "private", "d", "public_jwk"} {
				if _, ok := line[k]; ok {
					t.Errorf("line carries %q: %s", k, out)
				}
			}
		})
	}
}
