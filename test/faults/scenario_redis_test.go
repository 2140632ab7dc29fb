package faults_test

import (
	"errors"
	"math/rand/v2"
	"net/http"
	"testing"
	"time"

	"github.com/tokenserver/tokenserver/store/storetest"
	"github.com/tokenserver/tokenserver/verifier"
)

// holdFault keeps a fault going for at least d since it began, so stale
// feeds have time to fail closed. It lengthens the fault; it asserts nothing.
func holdFault(began time.Time, d time.Duration) {
	if rest := d - time.Since(began); rest > 0 {
		time.Sleep(rest)
	}
}

// TestRedisKilledUnderLoad: Redis dies (kill -9) under load and comes back
// empty on the same port. Nothing is revoked during the outage (see
// TestRedisDownDuringRevoke for that), so the revocations from before it
// survive only if the server notices that the cache came back empty.
func TestRedisKilledUnderLoad(t *testing.T) {
	s := newScenario(t, storetest.StartPostgres(t))
	from := time.Now()
	jti := s.login(victimUser, victimPass)
	s.revokeToken(jti, "access_token", "access token revoked before Redis died", feedBound)
	sid := s.login(victimUser, victimPass)
	s.revokeToken(sid, "refresh_token", "session revoked before Redis died", feedBound)

	l := startLoad(s, loadOptions{noReuse: true})
	l.waitOps(20, time.Minute)
	killed := time.Now()
	s.beginFault()
	if err := s.redis.Stop(); err != nil {
		t.Fatal(err)
	}
	l.waitOps(40, time.Minute)
	holdFault(killed, maxStaleness+2*time.Second)
	if err := s.redis.Restart(); err != nil {
		t.Fatal(err)
	}
	s.endFault()
	l.waitOps(20, time.Minute)
	l.halt()
	s.checkInvariants(from)
}

// TestRedisFlushAll: FLUSHALL at an arbitrary moment under load empties the
// denylist cache; the very next /introspect of a revoked token must still
// say active:false (the durable record answers until the cache is
// reseeded).
func TestRedisFlushAll(t *testing.T) {
	s := newScenario(t, storetest.StartPostgres(t))
	from := time.Now()
	a := s.login(victimUser, victimPass)
	s.revokeToken(a, "access_token", "access token (jti) revoked before FLUSHALL", feedBound)
	b := s.login(victimUser, victimPass)
	s.revokeToken(b, "refresh_token", "session (sid) revoked before FLUSHALL", feedBound)
	c := s.login(victimUser, victimPass)
	mustCLI(t, s.env, "", "user", "revoke-sessions", victimUser)
	s.led.addRevoked(revokedToken{access: c.AccessToken, refresh: c.RefreshToken,
		how: "user revoke-sessions (sub) before FLUSHALL", revokedAt: time.Now()})
	var keys []string
	if !waitUntil(feedBound, func() bool { keys, _ = s.denylistKeys(); return len(keys) >= 3 }) {
		t.Fatalf("the denylist never reached Redis: %q", keys)
	}

	l := startLoad(s, loadOptions{})
	l.waitOps(10+rand.Int64N(40), time.Minute) // an arbitrary moment
	s.beginFault()
	s.flushAll()
	flushed := time.Now()
	s.endFault() // FLUSHALL is over at once; its effects are what is checked
	for _, r := range s.led.revokedSnapshot() {
		res, active := s.api.introspect(r.access)
		if res.status != http.StatusOK || active {
			t.Errorf("first /introspect after FLUSHALL of a revoked token (%s): status %d, active %v; want 200 active:false",
				r.how, res.status, active)
		}
	}
	// Figure: when the server has copied the durable record back (the
	// load's own reuse detections write entries too, so look for ours).
	if waitUntil(feedBound, func() bool { return s.allInRedis(keys) }) {
		t.Logf("figure: denylist reseeded into Redis %v after FLUSHALL", time.Since(flushed).Round(time.Millisecond))
	} else {
		t.Logf("figure: denylist not reseeded into Redis within %v of FLUSHALL", feedBound)
	}
	l.waitOps(20, time.Minute)
	l.halt()
	s.checkInvariants(from)
}

// TestRedisDownDuringRevoke: a token revoked while Redis is down must stop
// being accepted by the SSE verifier during the outage — either the
// revocation reaches it, or its feed goes stale and it fails closed — and
// by both verifiers once Redis is back.
func TestRedisDownDuringRevoke(t *testing.T) {
	s := newScenario(t, storetest.StartPostgres(t))
	from := time.Now()
	x := s.login(victimUser, victimPass)
	for _, pv := range []*pushVerifier{s.sse, s.rds} {
		if !waitUntil(feedBound, func() bool { ok, _ := pv.accepts(x.AccessToken); return ok }) {
			_, err := pv.accepts(x.AccessToken)
			t.Fatalf("%s does not accept a fresh token: %v", pv.name, err)
		}
	}
	l := startLoad(s, loadOptions{})
	l.waitOps(20, time.Minute)
	s.beginFault()
	if err := s.redis.Stop(); err != nil {
		t.Fatal(err)
	}
	revoked := s.revokeToken(x, "access_token", "access token revoked while Redis was down", feedBound)
	if revoked {
		revokedAt := time.Now()
		var why error
		if waitUntil(feedBound, func() bool {
			ok, err := s.sse.accepts(x.AccessToken)
			why = err
			return !ok
		}) {
			t.Logf("figure: with Redis down, the SSE verifier rejected the token %v after /revoke returned (%v)",
				time.Since(revokedAt).Round(time.Millisecond), why)
		} else {
			t.Errorf("with Redis down, the SSE verifier still accepts a revoked token %v after /revoke returned (feed staleness %v): "+
				"it neither received the revocation nor failed closed", feedBound, s.sse.push.Staleness())
		}
		ok, err := s.rds.accepts(x.AccessToken)
		t.Logf("figure: with Redis down, the Redis verifier accepts=%v (%v), staleness %v", ok, err, s.rds.push.Staleness())
	} else {
		t.Logf("figure: /revoke did not succeed while Redis was down")
	}
	if err := s.redis.Restart(); err != nil {
		t.Fatal(err)
	}
	s.endFault()
	if !revoked {
		s.revokeToken(x, "access_token", "access token revoked after Redis came back", feedBound)
	}
	// Figures: how long after Redis came back each verifier holds the
	// revocation itself (ErrRevoked, not a fail-closed answer).
	back := time.Now()
	for _, pv := range []*pushVerifier{s.sse, s.rds} {
		if waitUntil(feedBound, func() bool { _, err := pv.accepts(x.AccessToken); return errors.Is(err, verifier.ErrRevoked) }) {
			t.Logf("figure: %s holds the outage's revocation %v after Redis came back", pv.name, time.Since(back).Round(time.Millisecond))
		} else {
			_, err := pv.accepts(x.AccessToken)
			t.Logf("figure: %s does not hold the outage's revocation %v after Redis came back (%v)", pv.name, feedBound, err)
		}
	}
	y := s.login(victimUser, victimPass)
	if s.revokeToken(y, "access_token", "access token revoked after Redis came back", feedBound) {
		revokedAt := time.Now()
		for _, pv := range []*pushVerifier{s.sse, s.rds} {
			if waitUntil(feedBound, func() bool { _, err := pv.accepts(y.AccessToken); return errors.Is(err, verifier.ErrRevoked) }) {
				t.Logf("figure: after the outage, %s rejects a new revocation %v after /revoke returned", pv.name, time.Since(revokedAt).Round(time.Millisecond))
			}
		}
	}
	l.waitOps(20, time.Minute)
	l.halt()
	s.checkInvariants(from)
}
