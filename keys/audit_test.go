package keys

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokenserver/tokenserver/audit"
)

type auditRecorder struct {
	mu     sync.Mutex
	events []audit.Event
}

func (r *auditRecorder) Emit(_ context.Context, e audit.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

func (r *auditRecorder) take() []audit.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.events
	r.events = nil
	return e
}

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
			rec := &auditRecorder{}
			m := env.manager(func(c *Config) { c.Audit = rec })
			other := env.manager(func(c *Config) { c.Audit = rec })
			rec.take() // creating the set is no rotation
			if err := tt.rotate(ctx, env, m); err != nil {
				t.Fatal(err)
			}
			if err := other.Reload(ctx); err != nil {
				t.Fatal(err)
			}
			got := rec.take()
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
			var b strings.Builder
			w := audit.NewWriter(&b, time.Now)
			w.Emit(ctx, got[0])
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			var line map[string]any
			if err := json.Unmarshal([]byte(b.String()), &line); err != nil {
				t.Fatal(err)
			}
			if line["emergency"] != tt.emergency || line["kid"] != want[0].KID {
				t.Errorf("line = %s", b.String())
			}
			for _, k := range []string{"sealed", "private", "d", "public_jwk"} {
				if _, ok := line[k]; ok {
					t.Errorf("line carries %q: %s", k, b.String())
				}
			}
		})
	}
}
