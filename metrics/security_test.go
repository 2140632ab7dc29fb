package metrics

import (
	"context"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tokenserver/tokenserver/audit"
)

func TestSecurityCountsEvents(t *testing.T) {
	tests := []struct {
		name   string
		events []audit.Event
		// metric is the series that must have moved by one.
		counter func(*Security) prometheus.Collector
		want    float64
	}{
		{"login failed", []audit.Event{{Type: audit.LoginFailed, Reason: audit.ReasonInvalidCredentials}},
			func(s *Security) prometheus.Collector {
				return s.loginFailures.WithLabelValues(audit.ReasonInvalidCredentials)
			}, 1},
		{"login throttled per user", []audit.Event{{Type: audit.LoginThrottled, Limit: audit.LimitUser}},
			func(s *Security) prometheus.Collector { return s.loginsThrottled.WithLabelValues(audit.LimitUser) }, 1},
		{"reuse", []audit.Event{{Type: audit.RefreshReuseDetected}, {Type: audit.RefreshReuseDetected}},
			func(s *Security) prometheus.Collector { return s.reuseDetected }, 2},
		{"family revoked by reuse", []audit.Event{{Type: audit.SessionRevoked, Cause: audit.CauseReuse}},
			func(s *Security) prometheus.Collector { return s.familiesRevoked.WithLabelValues("reuse") }, 1},
		{"allowlisted client", []audit.Event{{Type: audit.ClientAuthFailed, ClientID: "app", Reason: audit.ReasonBadSecret}},
			func(s *Security) prometheus.Collector { return s.clientAuthFailure.WithLabelValues("app") }, 1},
		{"other client", []audit.Event{
			{Type: audit.ClientAuthFailed, ClientID: "someone-else", Reason: audit.ReasonBadSecret},
			{Type: audit.ClientAuthFailed, Reason: audit.ReasonUnknownClient}},
			func(s *Security) prometheus.Collector { return s.clientAuthFailure.WithLabelValues("other") }, 2},
		{"token revoked", []audit.Event{{Type: audit.TokenRevoked, Kind: audit.KindKID}},
			func(s *Security) prometheus.Collector { return s.tokensRevoked.WithLabelValues("kid") }, 1},
		{"emergency rotation", []audit.Event{{Type: audit.KeyRotated, Emergency: true}, {Type: audit.KeyRotated}},
			func(s *Security) prometheus.Collector { return s.emergencyRotation }, 1},
		{"unrelated event", []audit.Event{{Type: audit.LoginSucceeded}, {Type: audit.TokenRefreshed}},
			func(s *Security) prometheus.Collector { return s.reuseDetected }, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewSecurity(prometheus.NewRegistry(), []string{"app"})
			c := tt.counter(s)
			before := testutil.ToFloat64(c)
			for _, e := range tt.events {
				s.Emit(context.Background(), e)
			}
			if got := testutil.ToFloat64(c) - before; got != tt.want {
				t.Errorf("delta = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestSecuritySeriesExistAtZero: every label value is a series before any
// event, so rate() alerts work from the first scrape; the client label
// holds only allowlisted ids and "other".
func TestSecuritySeriesExistAtZero(t *testing.T) {
	reg := prometheus.NewRegistry()
	s := NewSecurity(reg, []string{"app", "web"})
	s.Emit(context.Background(), audit.Event{Type: audit.ClientAuthFailed, ClientID: "attacker-chosen"})
	want := map[string]int{
		"tokenserver_login_failures_total":          len(audit.LoginReasons()),
		"tokenserver_logins_throttled_total":        2,
		"tokenserver_refresh_reuse_detected_total":  1,
		"tokenserver_families_revoked_total":        4,
		"tokenserver_client_auth_failures_total":    3, // other, app, web
		"tokenserver_tokens_revoked_total":          5,
		"tokenserver_emergency_key_rotations_total": 1,
	}
	for name, n := range want {
		if got := testutil.CollectAndCount(reg, name); got != n {
			t.Errorf("%s: %d series, want %d", name, got, n)
		}
	}
	expected := `
# HELP tokenserver_families_revoked_total Refresh-token families (sessions) revoked, by cause (reuse, revoke, admin, credential_change).
# TYPE tokenserver_families_revoked_total counter
tokenserver_families_revoked_total{cause="admin"} 0
tokenserver_families_revoked_total{cause="credential_change"} 0
tokenserver_families_revoked_total{cause="reuse"} 0
tokenserver_families_revoked_total{cause="revoke"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(expected), "tokenserver_families_revoked_total"); err != nil {
		t.Error(err)
	}
}
