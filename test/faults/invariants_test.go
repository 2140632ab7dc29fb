package faults_test

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/tokenserver/tokenserver/internal/e2etest"
)

// Bounds of the post-fault checks. They detect hangs and non-recovery; they
// are not latency targets.
const (
	recoveryBound = 30 * time.Second
	feedBound     = 20 * time.Second
)

// checkInvariants is called by every scenario once its fault has ended
// (load stopped). It checks, over everything the scenario observed since
// from:
//  1. no revoked token is accepted by /introspect, nor by a verifier once
//     its feed has been healthy for a second after the fault;
//  2. no refresh family lost or duplicated (collected by the load);
//  3. no 5xx but 503 with Retry-After, and Cache-Control: no-store on every
//     /token response;
//  4. no request went unanswered within requestTimeout;
//  5. the server recovers by itself: a password grant, a refresh and an
//     introspection succeed again.
func (s *scenario) checkInvariants(from time.Time) {
	t := s.t
	t.Helper()
	s.checkRecovery()
	s.checkRevokedRejected()
	for _, v := range s.led.violationsReport() {
		t.Errorf("under load: %s", v)
	}
	s.checkResponses(from)
}

// checkResponses applies invariants 3 and 4 to the recorded calls.
func (s *scenario) checkResponses(from time.Time) {
	t := s.t
	t.Helper()
	counts := map[string]int{}
	var bad []string
	var slowest time.Duration
	for _, c := range s.led.callsSince(from) {
		slowest = max(slowest, c.took)
		key := fmt.Sprintf("%s %d", c.what, c.status)
		if c.status == 503 {
			key += " " + c.errCode
		}
		counts[key]++
		switch {
		case c.err != nil && e2etest.IsTimeout(c.err):
			bad = append(bad, fmt.Sprintf("%s %s hung: no answer within %v (%v)", c.what, c.path, requestTimeout, c.err))
		case c.err != nil:
			bad = append(bad, fmt.Sprintf("%s %s: no response: %v", c.what, c.path, c.err))
		case c.status >= 500 && c.status != http.StatusServiceUnavailable:
			bad = append(bad, fmt.Sprintf("%s %s: status %d (%s), only 503 is allowed", c.what, c.path, c.status, c.errCode))
		case c.status == http.StatusServiceUnavailable && c.retryAfter == "":
			bad = append(bad, fmt.Sprintf("%s %s: 503 without Retry-After", c.what, c.path))
		}
		// RFC 6749 §5.1 and §5.2: token responses are never cached.
		if c.path == "/token" && c.err == nil && !strings.Contains(c.cacheControl, "no-store") {
			bad = append(bad, fmt.Sprintf("%s %s: status %d without Cache-Control: no-store (got %q)", c.what, c.path, c.status, c.cacheControl))
		}
	}
	t.Logf("responses: %v; slowest %v", counts, slowest.Round(time.Millisecond))
	for i, b := range bad {
		if i == 10 {
			t.Errorf("… and %d more bad responses", len(bad)-10)
			break
		}
		t.Error(b)
	}
}

// checkRecovery: invariant 5.
func (s *scenario) checkRecovery() {
	t := s.t
	t.Helper()
	start := time.Now()
	var last string
	ok := waitUntil(recoveryBound, func() bool {
		tr := s.api.password(loadUser, loadPassword)
		if tr.status != http.StatusOK {
			last = fmt.Sprintf("password grant: %d %s %v", tr.status, tr.body, tr.err)
			return false
		}
		next := s.api.refresh(tr.RefreshToken)
		if next.status != http.StatusOK {
			last = fmt.Sprintf("refresh: %d %s %v", next.status, next.body, next.err)
			return false
		}
		if r, active := s.api.introspect(next.AccessToken); !active {
			last = fmt.Sprintf("introspect of a fresh token: %d %s %v", r.status, r.body, r.err)
			return false
		}
		return true
	})
	if !ok {
		t.Errorf("no recovery within %v after the fault: %s", recoveryBound, last)
		return
	}
	t.Logf("recovered %v after the checks began", time.Since(start).Round(time.Millisecond))
}

// checkRevokedRejected: invariant 1 after the fault, for every token the
// scenario revoked.
func (s *scenario) checkRevokedRejected() {
	t := s.t
	t.Helper()
	for _, r := range s.led.revokedSnapshot() {
		s.checkIntrospectInactive(r)
		for _, pv := range []*pushVerifier{s.sse, s.rds} {
			s.checkVerifierRejects(pv, r)
		}
	}
}

// checkIntrospectInactive: /introspect must answer active:false (a 503 is
// retried; the server has recovered by now).
func (s *scenario) checkIntrospectInactive(r revokedToken) {
	t := s.t
	t.Helper()
	tokens := []string{r.access}
	if r.refresh != "" {
		tokens = append(tokens, r.refresh)
	}
	for i, tok := range tokens {
		kind := [...]string{"access", "refresh"}[i]
		var res result
		var active bool
		answered := waitUntil(feedBound, func() bool {
			res, active = s.api.introspect(tok)
			return res.status == http.StatusOK
		})
		switch {
		case !answered:
			t.Errorf("revoked %s token (%s): /introspect did not answer 200 within %v: %d %v", kind, r.how, feedBound, res.status, res.err)
		case active:
			t.Errorf("revoked %s token (%s) active at /introspect %v after its revocation",
				kind, r.how, time.Since(r.revokedAt).Round(time.Millisecond))
		}
	}
}

// checkVerifierRejects waits until the verifier's feed has been healthy for
// a second since the fault ended, then expects it to reject the token,
// polling up to feedBound for a revocation still in flight.
func (s *scenario) checkVerifierRejects(pv *pushVerifier, r revokedToken) {
	t := s.t
	t.Helper()
	end := s.lastFaultEnd()
	if !waitUntil(feedBound, func() bool { return pv.healthyFor(time.Second, end) }) {
		t.Errorf("%s: feed not healthy within %v after the fault (staleness %v)", pv.name, feedBound, pv.push.Staleness())
		return
	}
	if !waitUntil(feedBound, func() bool {
		accepted, _ := pv.accepts(r.access)
		return !accepted
	}) {
		t.Errorf("%s accepts a revoked token (%s) with a healthy feed, %v after its revocation",
			pv.name, r.how, time.Since(r.revokedAt).Round(time.Millisecond))
	}
}
