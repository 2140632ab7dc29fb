package main

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// rejectionHangBound only detects a hang: without the kid revocation the
// token would be accepted for the JWKS max-age (10 minutes).
const rejectionHangBound = 20 * time.Second

// awaitRejection polls the resource server until it rejects the token and
// returns how long that took after since.
func (rs *resourceServer) awaitRejection(t *testing.T, accessToken string, since time.Time) (time.Duration, bool) {
	for {
		if rs.status(t, accessToken) == http.StatusUnauthorized {
			return time.Since(since), true
		}
		if time.Since(since) > rejectionHangBound {
			return 0, false
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestEmergencyRotationReachesResourceServers: `keys rotate --now` revokes
// the unpublished key by kid, so resource servers that verify locally
// (example-resource-server, over SSE and over Redis pub/sub) refuse its
// tokens as soon as the revocation feed delivers the entry, not when their
// cached JWKS expires; /introspect refuses them too (and so does a resource
// server in introspection mode), and tokens of the new key are accepted
// everywhere.
func TestEmergencyRotationReachesResourceServers(t *testing.T) {
	r := newRevocationSetup(t)
	modes := map[string][]string{
		"sse":   {"--revocation", "sse", "--client-id", "app", "--client-secret", r.secret},
		"redis": {"--revocation", "redis", "--redis-url", r.env["REDIS_URL"], "--redis-prefix", r.env["TOKENSERVER_REDIS_PREFIX"]},
		// The server refuses the key's tokens; the resource server's cache
		// of active answers (5 s by default) bounds the delay.
		"introspect": {"--revocation", "introspect", "--client-id", "app", "--client-secret", r.secret},
	}
	servers := map[string]*resourceServer{}
	for mode, args := range modes {
		servers[mode] = startResourceServer(t, append([]string{"--issuer", r.s.URL, "--audience", r.s.URL}, args...)...)
	}
	tok := r.login(t)
	for mode, rs := range servers {
		if got := rs.status(t, tok.AccessToken); got != http.StatusOK {
			t.Fatalf("%s: token of the current key: status %d\n%s", mode, got, rs.stderr.String())
		}
	}
	if !introspectActive(t, r.s, "app", r.secret, tok.AccessToken) {
		t.Fatal("token inactive before the rotation")
	}

	out := mustRunCLI(t, r.env, "", "keys", "rotate", "--now")
	returned := time.Now()
	if !strings.Contains(out, "revoked every token of key") {
		t.Errorf("keys rotate --now output does not report the kid revocation:\n%s", out)
	}

	var wg sync.WaitGroup
	for mode, rs := range servers {
		wg.Go(func() {
			d, ok := rs.awaitRejection(t, tok.AccessToken, returned)
			if !ok {
				t.Errorf("%s: token of the unpublished key still accepted %s after the rotation\n%s", mode, rejectionHangBound, rs.stderr.String())
				return
			}
			t.Logf("%s: token of the unpublished key rejected %s after `keys rotate --now` returned", mode, d.Round(time.Millisecond))
		})
	}
	wg.Wait()
	if introspectActive(t, r.s, "app", r.secret, tok.AccessToken) {
		t.Error("/introspect: token of the unpublished key still active")
	}

	// The new key signs; the resource servers know it (the kid revocation
	// made them refetch the JWKS, and an unknown kid would too).
	fresh := r.login(t)
	if !introspectActive(t, r.s, "app", r.secret, fresh.AccessToken) {
		t.Error("/introspect: token of the new key inactive")
	}
	for mode, rs := range servers {
		deadline := time.Now().Add(rejectionHangBound)
		for rs.status(t, fresh.AccessToken) != http.StatusOK {
			if time.Now().After(deadline) {
				t.Fatalf("%s: token of the new key not accepted\n%s", mode, rs.stderr.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}
