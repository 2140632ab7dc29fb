package cluster_test

import (
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/tokenserver/tokenserver/verifier"
)

// feedBound is how long a revocation may take to reach a node or a
// verifier before the test calls it lost: a hang detector (the measured
// time is logged; the promise is about a second).
const feedBound = 10 * time.Second

// TestCluster starts one cluster and runs the scenarios on it in order; the
// last one kills a node, so it comes last.
func TestCluster(t *testing.T) {
	c := startCluster(t)
	e := &env{
		c:    c,
		app:  newClient(c.state["CLUSTER_CLIENT_ID"], c.state["CLUSTER_CLIENT_SECRET"]),
		rs:   newClient(c.state["CLUSTER_RS_CLIENT_ID"], c.state["CLUSTER_RS_CLIENT_SECRET"]),
		user: c.state["CLUSTER_USER"], password: c.state["CLUSTER_PASSWORD"],
	}
	e.sse = sseResourceServer(t, c.lb, c.nodes[2], c.state["CLUSTER_RS_CLIENT_ID"], c.state["CLUSTER_RS_CLIENT_SECRET"])

	t.Run("RefreshAtAnotherNode", e.testRefreshAtAnotherNode)
	t.Run("RevokeAtBReachesAAndVerifierAtC", e.testRevokeReachesEveryNode)
	t.Run("KeyRotationServedByEveryNode", e.testKeyRotation)
	t.Run("SentinelFailover", e.testSentinelFailover)
	t.Run("NodeKilledDuringRefreshes", e.testNodeKilled)
}

// env is what the scenarios share: the cluster, its client and user, and
// a resource server following node C's revocation stream.
type env struct {
	c              *cluster
	app, rs        *client
	user, password string
	sse            *resourceServer
}

// A token issued by node A refreshes at B, and that refresh at C: the
// rotation is one state for the cluster. The token A issued is consumed
// everywhere: presenting it again (after its successor was used) is reuse,
// which revokes the session on every node.
func (e *env) testRefreshAtAnotherNode(t *testing.T) {
	a, b, c := e.c.nodes[0], e.c.nodes[1], e.c.nodes[2]
	first := e.app.login(t, a, e.user, e.password)
	if r, active := e.app.introspect(c, first.AccessToken); r.status != http.StatusOK || !active {
		t.Fatalf("node C does not find node A's access token active: %v", r)
	}
	second := e.app.mustRefresh(t, b, first.RefreshToken)
	third := e.app.mustRefresh(t, c, second.RefreshToken)
	if third.RefreshToken == second.RefreshToken || second.RefreshToken == first.RefreshToken {
		t.Fatal("a refresh returned the refresh token it was given")
	}

	if r := e.app.refresh(c, first.RefreshToken); r.status != http.StatusBadRequest || r.errCode != "invalid_grant" {
		t.Fatalf("node A's consumed refresh token presented at C: want 400 invalid_grant, got %v", r.answer)
	}
	if r := e.app.refresh(a, third.RefreshToken); r.status != http.StatusBadRequest || r.errCode != "invalid_grant" {
		t.Fatalf("after reuse at C, the session's newest refresh token at A: want 400 invalid_grant, got %v", r.answer)
	}
}

// A revocation made at node B: node A's /introspect and a verifier
// following node C's stream reject the token. Both for an access token
// (jti entry) and for a refresh token (the session: sid entry).
func (e *env) testRevokeReachesEveryNode(t *testing.T) {
	a, b := e.c.nodes[0], e.c.nodes[1]
	for _, tc := range []struct{ name, hint string }{
		{"access token", ""},
		{"refresh token (session)", "refresh_token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tk := e.app.login(t, a, e.user, e.password)
			if !waitUntil(feedBound, func() bool { return e.sse.verify(tk.AccessToken) == nil }) {
				t.Fatalf("%s does not accept a fresh token: %v", e.sse.name, e.sse.verify(tk.AccessToken))
			}
			token := tk.AccessToken
			if tc.hint == "refresh_token" {
				token = tk.RefreshToken
			}
			e.app.mustRevoke(t, b, token, tc.hint)
			revoked := time.Now()

			if !waitUntil(feedBound, func() bool {
				r, active := e.app.introspect(a, tk.AccessToken)
				return r.status == http.StatusOK && !active
			}) {
				t.Errorf("node A's /introspect still reports the token active %v after the revoke at B", feedBound)
			} else {
				t.Logf("figure: node A's /introspect rejects it %v after the revoke at B", time.Since(revoked).Round(time.Millisecond))
			}
			if !waitUntil(feedBound, func() bool { return errors.Is(e.sse.verify(tk.AccessToken), verifier.ErrRevoked) }) {
				t.Errorf("%s: want ErrRevoked within %v of the revoke at B, got %v", e.sse.name, feedBound, e.sse.verify(tk.AccessToken))
			} else {
				t.Logf("figure: %s rejects it %v after the revoke at B", e.sse.name, time.Since(revoked).Round(time.Millisecond))
			}
		})
	}
}

// `tokenserver keys rotate --now` (the CLI, on the cluster's database): all
// three nodes serve the new key set, byte-identical with one ETag; tokens
// of the new key verify, those of the unpublished key are refused. (A
// planned `keys rotate` is refused until the next key has been published
// for jwks-max-age plus a minute; the emergency rotation reaches the nodes
// the same way, through PostgreSQL LISTEN/NOTIFY.)
func (e *env) testKeyRotation(t *testing.T) {
	var before jwks
	if !waitUntil(feedBound, func() bool { before = e.jwks(t); return before.agreed() }) {
		t.Fatalf("the nodes do not agree on the JWKS before the rotation: %v", before.etags)
	}
	old := e.app.login(t, e.c.nodes[0], e.user, e.password)

	e.c.cli(t, "keys", "rotate", "--now")
	rotated := time.Now()
	var after jwks
	if !waitUntil(feedBound, func() bool { after = e.jwks(t); return after.agreed() && after.etags[0] != before.etags[0] }) {
		t.Fatalf("the nodes do not serve one new JWKS %v after keys rotate --now: ETags before %q, now %q", feedBound, before.etags[0], after.etags)
	}
	t.Logf("figure: nodes A, B and C serve the new key set (ETag %s) %v after keys rotate --now", after.etags[0], time.Since(rotated).Round(time.Millisecond))

	fresh := e.app.login(t, e.c.lb, e.user, e.password)
	if err := e.sse.verify(fresh.AccessToken); err != nil {
		t.Errorf("%s refuses a token of the new key: %v", e.sse.name, err)
	}
	if !waitUntil(feedBound, func() bool { return e.sse.verify(old.AccessToken) != nil }) {
		t.Errorf("%s still accepts a token of the unpublished key", e.sse.name)
	}
	for _, n := range e.c.nodes {
		if r, active := e.app.introspect(n, old.AccessToken); r.status != http.StatusOK || active {
			t.Errorf("%s /introspect of a token of the unpublished key: want 200 inactive, got %v (active %v)", n, r, active)
		}
	}
}

// jwks is what each node serves at /.well-known/jwks.json.
type jwks struct {
	etags  []string
	bodies []string
}

func (j jwks) agreed() bool {
	for i := range j.etags {
		if j.etags[i] == "" || j.etags[i] != j.etags[0] || j.bodies[i] != j.bodies[0] {
			return false
		}
	}
	return true
}

func (e *env) jwks(t *testing.T) jwks {
	t.Helper()
	var j jwks
	for _, n := range e.c.nodes {
		resp, err := e.app.hc.Get(n + "/.well-known/jwks.json")
		if err != nil {
			t.Fatalf("GET %s/.well-known/jwks.json: %v", n, err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s/.well-known/jwks.json: %d %v", n, resp.StatusCode, err)
		}
		j.etags = append(j.etags, resp.Header.Get("ETag"))
		j.bodies = append(j.bodies, string(body))
	}
	return j
}
