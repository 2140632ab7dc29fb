package metrics

import (
	"context"
	"slices"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tokenserver/tokenserver/audit"
)

// otherClient is the client label of every client not in the allowlist:
// client ids are chosen by whoever registers them, and an unauthenticated
// caller can name any, so only configured ones become series.
const otherClient = "other"

// Security counts the security signals (issue 11) from the audit events,
// so a metric and the event it counts can never disagree. It is an
// audit.Sink; give it audit.Sinks{writer, security}. Every label value is
// created at zero, so an alert on a rate sees the series before the first
// event.
type Security struct {
	loginFailures     *prometheus.CounterVec
	loginsThrottled   *prometheus.CounterVec
	reuseDetected     prometheus.Counter
	familiesRevoked   *prometheus.CounterVec
	clientAuthFailure *prometheus.CounterVec
	tokensRevoked     *prometheus.CounterVec
	emergencyRotation prometheus.Counter
	clients           []string
}

// NewSecurity registers the security counters with reg. clientAllowlist
// are the client ids that may appear as a client label (--metrics-clients);
// every other client is "other".
func NewSecurity(reg prometheus.Registerer, clientAllowlist []string) *Security {
	s := &Security{
		loginFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tokenserver_login_failures_total",
			Help: "Failed password logins (bad credentials), by reason (invalid_credentials unless --audit-reasons).",
		}, []string{"reason"}),
		loginsThrottled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tokenserver_logins_throttled_total",
			Help: "Password logins refused by the brute-force throttle, by the limit reached (user, ip).",
		}, []string{"limit"}),
		reuseDetected: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tokenserver_refresh_reuse_detected_total",
			Help: "Rotated refresh tokens presented again (the session was revoked).",
		}),
		familiesRevoked: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tokenserver_families_revoked_total",
			Help: "Refresh-token families (sessions) revoked, by cause (reuse, revoke, admin, credential_change).",
		}, []string{"cause"}),
		clientAuthFailure: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tokenserver_client_auth_failures_total",
			Help: "Client authentication failures (invalid_client), by client (allowlisted id or other).",
		}, []string{"client"}),
		tokensRevoked: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tokenserver_tokens_revoked_total",
			Help: "Revocations carried out, by kind (access, refresh, session, user, kid).",
		}, []string{"kind"}),
		emergencyRotation: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tokenserver_emergency_key_rotations_total",
			Help: "Emergency signing-key rotations (the previous key unpublished at once).",
		}),
		clients: slices.Clone(clientAllowlist),
	}
	reg.MustRegister(s.loginFailures, s.loginsThrottled, s.reuseDetected, s.familiesRevoked,
		s.clientAuthFailure, s.tokensRevoked, s.emergencyRotation)
	for _, r := range audit.LoginReasons() {
		s.loginFailures.WithLabelValues(r)
	}
	for _, l := range audit.Limits() {
		s.loginsThrottled.WithLabelValues(l)
	}
	for _, c := range audit.Causes() {
		s.familiesRevoked.WithLabelValues(string(c))
	}
	for _, c := range append([]string{otherClient}, s.clients...) {
		s.clientAuthFailure.WithLabelValues(c)
	}
	for _, k := range audit.TokenKinds() {
		s.tokensRevoked.WithLabelValues(k)
	}
	return s
}

// Emit implements audit.Sink.
func (s *Security) Emit(_ context.Context, e audit.Event) {
	switch e.Type {
	case audit.LoginFailed:
		s.loginFailures.WithLabelValues(e.Reason).Inc()
	case audit.LoginThrottled:
		s.loginsThrottled.WithLabelValues(e.Limit).Inc()
	case audit.RefreshReuseDetected:
		s.reuseDetected.Inc()
	case audit.SessionRevoked:
		s.familiesRevoked.WithLabelValues(string(e.Cause)).Inc()
	case audit.ClientAuthFailed:
		s.clientAuthFailure.WithLabelValues(s.clientLabel(e.ClientID)).Inc()
	case audit.TokenRevoked:
		s.tokensRevoked.WithLabelValues(e.Kind).Inc()
	case audit.KeyRotated:
		if e.Emergency {
			s.emergencyRotation.Inc()
		}
	}
}

// clientLabel bounds the client label to the allowlist.
func (s *Security) clientLabel(id string) string {
	if id != "" && slices.Contains(s.clients, id) {
		return id
	}
	return otherClient
}
