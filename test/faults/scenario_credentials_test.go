package faults_test

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/tokenserver/tokenserver/store/storetest"
)

const (
	racerUser    = "racer"
	raceRounds   = 5
	raceLoggers  = 4
	racerPrefix  = "racer-password-"
	raceMinToken = 2 // logins that must succeed before the change starts
)

// TestPasswordChangeRacesLogins: logins with the old password race `user
// set-password`. Every token they obtained — before or during the change —
// belongs to a session the change ended: no refresh token may refresh, no
// access token may be active.
func TestPasswordChangeRacesLogins(t *testing.T) {
	s := newScenario(t, storetest.StartPostgres(t))
	from := time.Now()
	mustCLI(t, s.env, racerPrefix+"0\n", "user", "add", racerUser)
	for round := range raceRounds {
		oldPW, newPW := fmt.Sprintf("%s%d", racerPrefix, round), fmt.Sprintf("%s%d", racerPrefix, round+1)
		raceLogins(s, round, oldPW, "user set-password", func() {
			mustCLI(t, s.env, newPW+"\n", "user", "set-password", racerUser)
		}, nil)
	}
	s.checkInvariants(from)
}

// TestDisableRacesLogins: the same race with `user disable` (followed by
// `user enable` before the next round).
func TestDisableRacesLogins(t *testing.T) {
	s := newScenario(t, storetest.StartPostgres(t))
	from := time.Now()
	const pw = racerPrefix + "fixed"
	mustCLI(t, s.env, pw+"\n", "user", "add", racerUser)
	for round := range raceRounds {
		// Checked after enable: while the user is disabled every refresh
		// fails anyway, which would hide a session the disable missed.
		raceLogins(s, round, pw, "user disable", func() {
			mustCLI(t, s.env, "", "user", "disable", racerUser)
		}, func() {
			mustCLI(t, s.env, "", "user", "enable", racerUser)
		})
	}
	s.checkInvariants(from)
}

// raceLogins runs raceLoggers goroutines logging in as the racer with pw
// until change (an admin command) has returned, runs after (if any), then
// checks that every token they obtained is dead.
func raceLogins(s *scenario, round int, pw, what string, change, after func()) {
	t := s.t
	t.Helper()
	var (
		mu     sync.Mutex
		tokens []tokenResult
		wg     sync.WaitGroup
		stop   = make(chan struct{})
	)
	for range raceLoggers {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if tr := s.api.password(racerUser, pw); tr.status == http.StatusOK {
					mu.Lock()
					tokens = append(tokens, tr)
					mu.Unlock()
				}
			}
		})
	}
	got := func() int { mu.Lock(); defer mu.Unlock(); return len(tokens) }
	if !waitUntil(recoveryBound, func() bool { return got() >= raceMinToken }) {
		close(stop)
		wg.Wait()
		t.Fatalf("round %d: the racer could not log in (%d tokens)", round, got())
	}
	before := got()
	change()
	changed := time.Now()
	close(stop)
	wg.Wait()
	t.Logf("round %d: %d tokens before %s began, %d while it ran or just after", round, before, what, len(tokens)-before)
	if after != nil {
		after()
	}

	for i, tr := range tokens {
		how := fmt.Sprintf("round %d, login %d: obtained with credentials that %s ended", round, i, what)
		s.led.addRevoked(revokedToken{access: tr.AccessToken, refresh: tr.RefreshToken, how: how, revokedAt: changed})
		var r tokenResult
		waitUntil(feedBound, func() bool {
			r = s.api.refresh(tr.RefreshToken)
			return r.status != http.StatusServiceUnavailable
		})
		if r.status != http.StatusBadRequest || r.errCode != "invalid_grant" {
			t.Errorf("%s: refresh answered %d %s; want 400 invalid_grant", how, r.status, r.errCode)
		}
		res, active := s.api.introspect(tr.AccessToken)
		if res.status != http.StatusOK || active {
			t.Errorf("%s: access token at /introspect: status %d, active %v; want 200 active:false", how, res.status, active)
		}
	}
}
