package keys

import (
	"testing"
	"time"
)

// RotationPeriod is the configured schedule, and zero when nothing rotates
// on one (the key age metric's ceiling).
func TestRotationPeriod(t *testing.T) {
	tests := []struct {
		name   string
		period time.Duration
		want   time.Duration
	}{
		{"default", 0, DefaultRotationPeriod},
		{"configured", 48 * time.Hour, 48 * time.Hour},
		{"disabled", -1, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := newEnv(t).manager(func(c *Config) { c.RotationPeriod = tc.period })
			if got := m.RotationPeriod(); got != tc.want {
				t.Errorf("RotationPeriod() = %v, want %v", got, tc.want)
			}
		})
	}
}

// Keys from PEM files never rotate on a schedule.
func TestRotationPeriodStatic(t *testing.T) {
	keys, err := LoadPEMFiles(writePEM(t, "PRIVATE KEY", pkcs8(t, newEd(t))), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewStaticManager(Config{Algorithm: EdDSA}, keys)
	if err != nil {
		t.Fatal(err)
	}
	if got := m.RotationPeriod(); got != 0 {
		t.Errorf("RotationPeriod() = %v for PEM keys, want 0", got)
	}
}
