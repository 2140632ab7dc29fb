package metrics

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tokenserver/tokenserver/store"
)

func TestFeedCollector(t *testing.T) {
	tests := []struct {
		name                        string
		status                      FeedStatus
		subscribers, healthy, stale string
	}{
		{"healthy with subscribers", FeedStatus{Subscribers: 3, Healthy: true}, "3", "1", "0"},
		{"stale", FeedStatus{Healthy: false, Staleness: 2500 * time.Millisecond}, "0", "0", "2.5"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reg := prometheus.NewPedanticRegistry()
			reg.MustRegister(NewFeedCollector(func() FeedStatus { return tc.status }))
			compare(t, reg, `
# HELP tokenserver_revocation_feed_healthy 1 while the revocation feed vouches it delivers every revocation, else 0.
# TYPE tokenserver_revocation_feed_healthy gauge
tokenserver_revocation_feed_healthy `+tc.healthy+`
# HELP tokenserver_revocation_feed_staleness_seconds Seconds since the revocation feed was last healthy; 0 while it is.
# TYPE tokenserver_revocation_feed_staleness_seconds gauge
tokenserver_revocation_feed_staleness_seconds `+tc.stale+`
# HELP tokenserver_revocation_feed_subscribers Open revocation streams (SSE subscribers).
# TYPE tokenserver_revocation_feed_subscribers gauge
tokenserver_revocation_feed_subscribers `+tc.subscribers+`
`)
			lint(t, reg)
		})
	}
}

func TestPublishLag(t *testing.T) {
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name    string
		r       store.Revocation
		at      time.Time
		samples uint64
		sum     float64
	}{
		{"from creation", store.Revocation{Kind: store.RevokeJTI, CreatedAt: created}, created.Add(300 * time.Millisecond), 1, 0.3},
		{"a user revoked again counts from its latest not-before",
			store.Revocation{Kind: store.RevokeSub, CreatedAt: created, NotBefore: created.Add(time.Hour)},
			created.Add(time.Hour + 250*time.Millisecond), 1, 0.25},
		{"a clock behind the writer's is no negative lag", store.Revocation{Kind: store.RevokeSID, CreatedAt: created}, created.Add(-time.Second), 1, 0},
		{"no creation time: nothing to measure", store.Revocation{Kind: store.RevokeJTI}, created, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reg := prometheus.NewPedanticRegistry()
			p := NewPublishLag(reg)
			p.Relayed(tc.r, tc.at)
			n, sum := histogram(t, reg, "tokenserver_revocation_publish_lag_seconds", nil)
			if n != tc.samples || sum != tc.sum {
				t.Errorf("%d samples, sum %g; want %d, %g", n, sum, tc.samples, tc.sum)
			}
			lint(t, reg)
		})
	}
}
