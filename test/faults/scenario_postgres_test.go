package faults_test

import (
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/tokenserver/tokenserver/store/storetest"
)

// dedicatedPostgres starts a PostgreSQL server for one scenario (it will be
// stopped or frozen) and returns a fresh database on it and its control.
func dedicatedPostgres(t *testing.T, opts storetest.PostgresOptions) (string, *pgControl) {
	t.Helper()
	pg, err := storetest.StartPostgresServer(opts)
	if err != nil {
		t.Fatalf("postgres: %v", err)
	}
	t.Cleanup(pg.Stop)
	ctl := newPGControl(t, pg) // its cleanup (thaw) runs before pg.Stop
	dsn, err := pg.CreateDatabase(pg.NextDatabaseName())
	if err != nil {
		t.Fatal(err)
	}
	return dsn, ctl
}

// expect503 checks a response given while the database is unavailable.
func expect503(t *testing.T, what string, r result) {
	t.Helper()
	if r.status != http.StatusServiceUnavailable || r.retryAfter == "" || r.errCode != "temporarily_unavailable" {
		t.Errorf("%s with PostgreSQL unavailable: status %d, error %q, Retry-After %q, after %v (%v); want 503 temporarily_unavailable with Retry-After",
			what, r.status, r.errCode, r.retryAfter, r.took.Round(time.Millisecond), r.err)
	}
}

// TestPostgresStopped: PostgreSQL shut down hard under load. /token answers
// 503 with Retry-After meanwhile, a refresh refused with 503 changed
// nothing, and everything recovers when PostgreSQL is back.
func TestPostgresStopped(t *testing.T) {
	// Durable commits (synchronous_commit=on, as the README requires):
	// an immediate shutdown must not lose a rotation the server confirmed.
	dsn, pg := dedicatedPostgres(t, storetest.PostgresOptions{Fsync: true})
	s := newScenario(t, dsn)
	from := time.Now()
	victim := s.login(victimUser, victimPass)
	s.revokeToken(victim, "refresh_token", "session revoked before PostgreSQL stopped", feedBound)
	held := s.login(loadUser, loadPassword)

	l := startLoad(s, loadOptions{})
	l.waitOps(20, time.Minute)
	s.beginFault()
	pg.stop(t)
	stopped := time.Now()
	expect503(t, "refresh", s.api.refresh(held.RefreshToken).result)
	expect503(t, "password grant", s.api.password(loadUser, loadPassword).result)
	l.waitOps(30, time.Minute)
	holdFault(stopped, maxStaleness+2*time.Second)
	pg.start(t)
	s.endFault()

	// The refused refresh changed nothing: the token still rotates.
	var next tokenResult
	if !waitUntil(recoveryBound, func() bool {
		next = s.api.refresh(held.RefreshToken)
		return next.status != http.StatusServiceUnavailable
	}) || next.status != http.StatusOK {
		t.Errorf("refresh refused with 503 during the outage, retried after it: %d %s; want 200 (a 503 must change nothing)", next.status, next.body)
	}
	l.waitOps(20, time.Minute)
	l.halt()
	s.checkInvariants(from)
}

// TestPostgresFrozen: PostgreSQL stops answering (SIGSTOP) for about ten
// seconds with its connections open. Requests that need it must come back
// 503 with Retry-After while it is still frozen, not hang until it thaws;
// then everything recovers.
func TestPostgresFrozen(t *testing.T) {
	dsn, pg := dedicatedPostgres(t, storetest.PostgresOptions{})
	s := newScenario(t, dsn)
	from := time.Now()
	victim := s.login(victimUser, victimPass)
	s.revokeToken(victim, "refresh_token", "session revoked before PostgreSQL froze", feedBound)
	held := s.login(loadUser, loadPassword)

	l := startLoad(s, loadOptions{})
	l.waitOps(20, time.Minute)
	s.beginFault()
	pg.freeze(t)
	frozen := time.Now()

	// Probes sent into the frozen database; the freeze lasts until they
	// have all come back (or their own timeout ends them).
	var mu sync.Mutex
	probes := map[string]result{}
	var wg sync.WaitGroup
	for what, do := range map[string]func() result{
		"refresh":        func() result { return s.api.refresh(held.RefreshToken).result },
		"password grant": func() result { return s.api.password(loadUser, loadPassword).result },
		"introspect":     func() result { r, _ := s.api.introspect(held.AccessToken); return r },
	} {
		wg.Go(func() {
			r := do()
			mu.Lock()
			probes[what] = r
			mu.Unlock()
		})
	}
	wg.Wait()
	answered := time.Since(frozen)
	for what, r := range probes {
		t.Logf("figure: %s with PostgreSQL frozen: status %d %s after %v", what, r.status, r.errCode, r.took.Round(time.Millisecond))
	}
	expect503(t, "refresh", probes["refresh"])
	expect503(t, "password grant", probes["password grant"])
	if r := probes["introspect"]; r.err != nil || (r.status != http.StatusOK && r.status != http.StatusServiceUnavailable) {
		t.Errorf("introspect with PostgreSQL frozen: status %d (%v); want 200 or 503", r.status, r.err)
	}
	t.Logf("figure: every probe answered within %v of the freeze", answered.Round(time.Millisecond))
	holdFault(frozen, 10*time.Second)
	pg.thaw()
	s.endFault()

	l.waitOps(20, time.Minute)
	l.halt()
	s.checkInvariants(from)
}
