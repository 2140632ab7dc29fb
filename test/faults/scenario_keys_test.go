package faults_test

import (
	"testing"
	"time"

	"github.com/tokenserver/tokenserver/store/storetest"
)

// TestKeysRotateNow: an emergency rotation (a leaked key) under load. The
// old key's tokens stop being accepted by /introspect and by both verifiers
// (checked before any token signed by the new key has made a verifier
// refetch the JWKS), and the new key's tokens are accepted.
func TestKeysRotateNow(t *testing.T) {
	s := newScenario(t, storetest.StartPostgres(t))
	from := time.Now()
	old := s.login(victimUser, victimPass)
	for _, pv := range []*pushVerifier{s.sse, s.rds} {
		if !waitUntil(feedBound, func() bool { ok, _ := pv.accepts(old.AccessToken); return ok }) {
			_, err := pv.accepts(old.AccessToken)
			t.Fatalf("%s does not accept a fresh token: %v", pv.name, err)
		}
	}
	l := startLoad(s, loadOptions{})
	l.waitOps(20, time.Minute)
	s.beginFault()
	mustCLI(t, s.env, "", "keys", "rotate", "--now")
	rotated := time.Now()
	s.endFault()

	// The server picks the change up through LISTEN/NOTIFY; only once it
	// has does the load's probing of revoked tokens include this one.
	if waitUntil(feedBound, func() bool { r, active := s.api.introspect(old.AccessToken); return r.status == 200 && !active }) {
		t.Logf("figure: /introspect rejects the old key's token %v after keys rotate --now", time.Since(rotated).Round(time.Millisecond))
		s.led.addRevoked(revokedToken{access: old.AccessToken, how: "signed by the key unpublished by keys rotate --now", revokedAt: time.Now()})
	} else {
		t.Errorf("/introspect still accepts a token of the key unpublished by keys rotate --now %v later", feedBound)
	}
	l.waitOps(20, time.Minute)
	l.halt()
	// The verifiers must reject the old key's tokens before any token of
	// the new key makes them refetch the JWKS: checkInvariants presents no
	// new token to them.
	s.checkInvariants(from)

	fresh := s.login(victimUser, victimPass)
	for _, pv := range []*pushVerifier{s.sse, s.rds} {
		if !waitUntil(feedBound, func() bool { ok, _ := pv.accepts(fresh.AccessToken); return ok }) {
			_, err := pv.accepts(fresh.AccessToken)
			t.Errorf("%s does not accept a token of the new key within %v: %v", pv.name, feedBound, err)
		}
	}
}
