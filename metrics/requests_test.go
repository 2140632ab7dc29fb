package metrics

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tokenserver/tokenserver/tokenserver"
)

func TestRequests(t *testing.T) {
	tests := []struct {
		name      string
		rec       tokenserver.RequestRecord
		wantHTTP  string   // http_requests_total series
		wantToken []string // grant_type, error of the token_requests_total series counted
		grant     string   // token_request_duration_seconds series that got the sample
	}{
		{
			name: "password grant success",
			rec: tokenserver.RequestRecord{Route: tokenserver.RouteToken, Method: http.MethodPost, Status: 200,
				GrantType: "password", ClientID: "web", Duration: 20 * time.Millisecond},
			wantHTTP:  `tokenserver_http_requests_total{code="200",handler="token",method="POST"} 1`,
			wantToken: []string{"password", ""},
			grant:     "password",
		},
		{
			name: "wrong password",
			rec: tokenserver.RequestRecord{Route: tokenserver.RouteToken, Method: http.MethodPost, Status: 400,
				GrantType: "password", ClientID: "web", Error: tokenserver.CodeInvalidGrant, Duration: time.Millisecond},
			wantHTTP:  `tokenserver_http_requests_total{code="400",handler="token",method="POST"} 1`,
			wantToken: []string{"password", "invalid_grant"},
			grant:     "password",
		},
		{
			name: "request that failed before grant_type counts as other",
			rec: tokenserver.RequestRecord{Route: tokenserver.RouteToken, Method: http.MethodGet, Status: 405,
				Error: tokenserver.CodeInvalidRequest},
			wantHTTP:  `tokenserver_http_requests_total{code="405",handler="token",method="GET"} 1`,
			wantToken: []string{"other", "invalid_request"},
			grant:     "other",
		},
		{
			name: "unbounded values are folded",
			rec: tokenserver.RequestRecord{Route: tokenserver.RouteToken, Method: "BREW", Status: 1000,
				GrantType: "urn:attacker:chosen", Error: "made_up"},
			wantHTTP:  `tokenserver_http_requests_total{code="0",handler="token",method="other"} 1`,
			wantToken: []string{"other", "other"},
			grant:     "other",
		},
		{
			name:     "other routes leave the token metrics alone",
			rec:      tokenserver.RequestRecord{Route: tokenserver.RouteJWKS, Method: http.MethodGet, Status: 200},
			wantHTTP: `tokenserver_http_requests_total{code="200",handler="jwks",method="GET"} 1`,
		},
		{
			name:     "no route is other",
			rec:      tokenserver.RequestRecord{Method: http.MethodGet, Status: 404},
			wantHTTP: `tokenserver_http_requests_total{code="404",handler="other",method="GET"} 1`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reg := prometheus.NewPedanticRegistry()
			r := NewRequests(reg)
			r.Observe(context.Background(), tc.rec)
			compare(t, reg, "# HELP tokenserver_http_requests_total HTTP requests answered, by route (handler), method and status code.\n"+
				"# TYPE tokenserver_http_requests_total counter\n"+tc.wantHTTP+"\n", "tokenserver_http_requests_total")
			// Successes of every grant exist from the start (4 series).
			series := len(grantTypes())
			if tc.wantToken != nil {
				if got := testutil.ToFloat64(r.tokens.WithLabelValues(tc.wantToken...)); got != 1 {
					t.Errorf("token_requests_total%v = %g, want 1", tc.wantToken, got)
				}
				if tc.wantToken[1] != "" {
					series++
				}
			}
			if n := testutil.CollectAndCount(r.tokens); n != series {
				t.Errorf("%d token_requests_total series, want %d", n, series)
			}
			route := tc.rec.Route
			if route == "" {
				route = "other"
			}
			n, sum := histogram(t, reg, "tokenserver_http_request_duration_seconds", map[string]string{"handler": route})
			if n != 1 || sum != tc.rec.Duration.Seconds() {
				t.Errorf("request duration: %d samples, sum %g; want 1, %g", n, sum, tc.rec.Duration.Seconds())
			}
			for _, g := range grantTypes() {
				n, _ := histogram(t, reg, "tokenserver_token_request_duration_seconds", map[string]string{"grant_type": g})
				if want := map[bool]uint64{true: 1}[g == tc.grant]; n != want {
					t.Errorf("token duration of %s: %d samples, want %d", g, n, want)
				}
			}
			lint(t, reg)
		})
	}
}
