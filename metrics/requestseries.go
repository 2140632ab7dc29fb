package metrics

import (
	"strconv"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tokenserver/tokenserver/tokenserver"
)

// Request series resolved once per label set. WithLabelValues hashes the
// label values and looks the child up under a lock on every call; Observe
// ran four per request. The label sets are bounded by the bound* functions,
// so each gets a slot in a fixed array, indexed by switches (no hashing),
// and filled on first use: a series still appears only once a request had
// its labels, as before. Values outside the arrays (an unexpected route,
// an uncommon status code) take WithLabelValues.

// slot holds one resolved child, set on first use. Two requests racing to
// fill it resolve the same child (WithLabelValues is idempotent).
type slot[T any] struct{ p atomic.Pointer[T] }

func (s *slot[T]) get(resolve func() T) T {
	if v := s.p.Load(); v != nil {
		return *v
	}
	v := resolve()
	s.p.Store(&v)
	return v
}

// Slot array sizes: the values the index functions below know.
const (
	nRoutes  = 11 // routeIndex
	nMethods = 10 // methodIndex: boundMethod's values
	nCodes   = 13 // codeIndex: the status codes the server writes
	nErrors  = 10 // errorIndex: boundError's values
	nGrants  = 4  // grantIndex: grantTypes
)

func routeIndex(route string) int {
	switch route {
	case tokenserver.RouteToken:
		return 0
	case tokenserver.RouteRevoke:
		return 1
	case tokenserver.RouteIntrospect:
		return 2
	case tokenserver.RouteRevocations:
		return 3
	case tokenserver.RouteRevocationsStream:
		return 4
	case tokenserver.RouteJWKS:
		return 5
	case tokenserver.RouteMetadata:
		return 6
	case tokenserver.RouteHealthz:
		return 7
	case tokenserver.RouteReadyz:
		return 8
	case tokenserver.RouteAdmin:
		return 9
	case tokenserver.RouteOther:
		return 10
	}
	return -1
}

func methodIndex(bounded string) int {
	switch bounded {
	case "GET":
		return 0
	case "HEAD":
		return 1
	case "POST":
		return 2
	case "PUT":
		return 3
	case "PATCH":
		return 4
	case "DELETE":
		return 5
	case "OPTIONS":
		return 6
	case "CONNECT":
		return 7
	case "TRACE":
		return 8
	case "other":
		return 9
	}
	return -1
}

func codeIndex(code int) int {
	switch code {
	case 200:
		return 0
	case 204:
		return 1
	case 304:
		return 2
	case 400:
		return 3
	case 401:
		return 4
	case 403:
		return 5
	case 404:
		return 6
	case 405:
		return 7
	case 413:
		return 8
	case 415:
		return 9
	case 429:
		return 10
	case 500:
		return 11
	case 503:
		return 12
	}
	return -1
}

func errorIndex(bounded string) int {
	switch bounded {
	case "":
		return 0
	case tokenserver.CodeInvalidRequest:
		return 1
	case tokenserver.CodeInvalidClient:
		return 2
	case tokenserver.CodeInvalidGrant:
		return 3
	case tokenserver.CodeUnauthorizedClient:
		return 4
	case tokenserver.CodeUnsupportedGrantType:
		return 5
	case tokenserver.CodeInvalidScope:
		return 6
	case tokenserver.CodeServerError:
		return 7
	case tokenserver.CodeTemporarilyUnavailable:
		return 8
	case "other":
		return 9
	}
	return -1
}

func grantIndex(bounded string) int {
	switch bounded {
	case "password":
		return 0
	case "refresh_token":
		return 1
	case "client_credentials":
		return 2
	case tokenserver.GrantOther:
		return 3
	}
	return -1
}

// requestSeries are the slots of Requests' four vectors.
type requestSeries struct {
	requests      [nRoutes][nMethods][nCodes]slot[prometheus.Counter]
	duration      [nRoutes]slot[prometheus.Observer]
	tokens        [nGrants][nErrors]slot[prometheus.Counter]
	tokenDuration [nGrants]slot[prometheus.Observer]
}

func (r *Requests) requestCounter(ri int, route, method string, status int) prometheus.Counter {
	mi, ci := methodIndex(method), codeIndex(status)
	resolve := func() prometheus.Counter {
		return r.requests.WithLabelValues(route, method, strconv.Itoa(status))
	}
	if ri < 0 || mi < 0 || ci < 0 {
		return resolve()
	}
	return r.series.requests[ri][mi][ci].get(resolve)
}

func (r *Requests) durationObserver(ri int, route string) prometheus.Observer {
	resolve := func() prometheus.Observer { return r.duration.WithLabelValues(route) }
	if ri < 0 {
		return resolve()
	}
	return r.series.duration[ri].get(resolve)
}

func (r *Requests) tokenCounter(grant, code string) prometheus.Counter {
	gi, ei := grantIndex(grant), errorIndex(code)
	resolve := func() prometheus.Counter { return r.tokens.WithLabelValues(grant, code) }
	if gi < 0 || ei < 0 {
		return resolve()
	}
	return r.series.tokens[gi][ei].get(resolve)
}

func (r *Requests) tokenDurationObserver(grant string) prometheus.Observer {
	resolve := func() prometheus.Observer { return r.tokenDuration.WithLabelValues(grant) }
	gi := grantIndex(grant)
	if gi < 0 {
		return resolve()
	}
	return r.series.tokenDuration[gi].get(resolve)
}
