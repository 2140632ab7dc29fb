package metrics

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tokenserver/tokenserver/tokenserver"
)

// BenchmarkRequestsObserve is one refresh's request metrics (BENCHMARKS.md,
// "Observability cost").
func BenchmarkRequestsObserve(b *testing.B) {
	r := NewRequests(prometheus.NewRegistry())
	rec := tokenserver.RequestRecord{Route: tokenserver.RouteToken, Method: http.MethodPost, Status: 200,
		GrantType: "refresh_token", ClientID: "app", Duration: 3 * time.Millisecond}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		r.Observe(ctx, rec)
	}
}
