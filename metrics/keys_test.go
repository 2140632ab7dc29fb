package metrics

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tokenserver/tokenserver/keys"
	"github.com/tokenserver/tokenserver/store/memory"
)

// KeyAgesOf reads a real manager: the current key's age since it started
// signing, the next key's since it was created, the rotation period.
func TestKeyAgesOf(t *testing.T) {
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	now := start
	clock := func() time.Time { return now }
	kek, err := keys.RandomKEK()
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := keys.NewSealer(kek)
	if err != nil {
		t.Fatal(err)
	}
	m, err := keys.NewManager(t.Context(), keys.Config{Store: memory.New(clock), Sealer: sealer,
		RotationPeriod: 48 * time.Hour, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	now = start.Add(90 * time.Minute)
	got := KeyAgesOf(m, now)
	want := KeyAges{Current: 90 * time.Minute, HasCurrent: true, Next: 90 * time.Minute, HasNext: true, MaxAge: 48 * time.Hour}
	if got != want {
		t.Fatalf("KeyAgesOf = %+v, want %+v", got, want)
	}
}

func TestKeysCollector(t *testing.T) {
	tests := []struct {
		name string
		ages KeyAges
		want string
	}{
		{"current and next", KeyAges{Current: time.Hour, HasCurrent: true, Next: time.Minute, HasNext: true, MaxAge: 720 * time.Hour}, `
tokenserver_signing_key_age_seconds{state="current"} 3600
tokenserver_signing_key_age_seconds{state="next"} 60
`},
		{"no next key (PEM files)", KeyAges{Current: 2 * time.Second, HasCurrent: true}, `
tokenserver_signing_key_age_seconds{state="current"} 2
`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reg := prometheus.NewPedanticRegistry()
			reg.MustRegister(NewKeysCollector(func() KeyAges { return tc.ages }))
			compare(t, reg, `
# HELP tokenserver_signing_key_age_seconds Age of the signing key (state=current: since it started signing) and of the next key (state=next: since it was created).
# TYPE tokenserver_signing_key_age_seconds gauge`+tc.want+`# HELP tokenserver_signing_key_max_age_seconds Configured key rotation period: the current key is replaced at this age (0: no scheduled rotation).
# TYPE tokenserver_signing_key_max_age_seconds gauge
tokenserver_signing_key_max_age_seconds `+formatSeconds(tc.ages.MaxAge)+`
`)
			lint(t, reg)
		})
	}
}

func formatSeconds(d time.Duration) string {
	return prometheusFloat(d.Seconds())
}
