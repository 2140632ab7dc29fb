package metrics

import (
	"context"
	"net/http"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tokenserver/tokenserver/tokenserver"
)

// TestRequestSeriesIndexes: every bounded label value has its own slot
// within the arrays, so no two label sets share a cached series.
func TestRequestSeriesIndexes(t *testing.T) {
	distinct := func(name string, n int, idx []int) {
		t.Helper()
		seen := map[int]bool{}
		for _, i := range idx {
			if i < 0 || i >= n || seen[i] {
				t.Errorf("%s: index %d out of [0,%d) or repeated (%v)", name, i, n, idx)
			}
			seen[i] = true
		}
	}
	var routes, methods, codes, errs, grants []int
	for _, r := range []string{tokenserver.RouteToken, tokenserver.RouteRevoke, tokenserver.RouteIntrospect,
		tokenserver.RouteRevocations, tokenserver.RouteRevocationsStream, tokenserver.RouteJWKS, tokenserver.RouteMetadata,
		tokenserver.RouteHealthz, tokenserver.RouteReadyz, tokenserver.RouteAdmin, tokenserver.RouteOther} {
		routes = append(routes, routeIndex(r))
	}
	for _, m := range []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE", "BREW"} {
		methods = append(methods, methodIndex(boundMethod(m)))
	}
	for _, c := range []int{200, 204, 304, 400, 401, 403, 404, 405, 413, 415, 429, 500, 503} {
		codes = append(codes, codeIndex(c))
	}
	for _, e := range []string{"", tokenserver.CodeInvalidRequest, tokenserver.CodeInvalidClient, tokenserver.CodeInvalidGrant,
		tokenserver.CodeUnauthorizedClient, tokenserver.CodeUnsupportedGrantType, tokenserver.CodeInvalidScope,
		tokenserver.CodeServerError, tokenserver.CodeTemporarilyUnavailable, "made_up"} {
		errs = append(errs, errorIndex(boundError(e)))
	}
	for _, g := range grantTypes() {
		grants = append(grants, grantIndex(g))
	}
	distinct("route", nRoutes, routes)
	distinct("method", nMethods, methods)
	distinct("code", nCodes, codes)
	distinct("error", nErrors, errs)
	distinct("grant", nGrants, grants)
}

// TestRequestSeriesCached: repeated and differing requests count on the
// right series whether they hit a slot or fall back (a status code or
// route without one), and a series exists only once a request had it.
func TestRequestSeriesCached(t *testing.T) {
	r := NewRequests(prometheus.NewRegistry())
	obs := func(route string, status int, grant, code string) {
		r.Observe(context.Background(), tokenserver.RequestRecord{Route: route, Method: http.MethodPost, Status: status,
			GrantType: grant, Error: code})
	}
	for range 3 {
		obs(tokenserver.RouteToken, 200, "refresh_token", "")
		obs(tokenserver.RouteToken, 400, "refresh_token", tokenserver.CodeInvalidGrant)
		obs(tokenserver.RouteToken, 418, "password", "made_up") // no slot for 418
		obs("unlisted", 200, "", "")                            // no slot for the route
	}
	if n := testutil.CollectAndCount(r.requests); n != 4 {
		t.Errorf("http_requests_total series = %d, want 4", n)
	}
	for _, c := range []struct {
		got  prometheus.Collector
		want float64
	}{
		{r.requests.WithLabelValues(tokenserver.RouteToken, "POST", "200"), 3},
		{r.requests.WithLabelValues(tokenserver.RouteToken, "POST", "400"), 3},
		{r.requests.WithLabelValues(tokenserver.RouteToken, "POST", "418"), 3},
		{r.requests.WithLabelValues("unlisted", "POST", "200"), 3},
		{r.tokens.WithLabelValues("refresh_token", ""), 3},
		{r.tokens.WithLabelValues("refresh_token", tokenserver.CodeInvalidGrant), 3},
		{r.tokens.WithLabelValues("password", "other"), 3},
	} {
		if got := testutil.ToFloat64(c.got); got != c.want {
			t.Errorf("%v = %v, want %v", c.got, got, c.want)
		}
	}
	if n := testutil.CollectAndCount(r.duration); n != 2 {
		t.Errorf("http_request_duration_seconds series = %d, want 2", n)
	}
}
