package verifier_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/tokenserver/tokenserver/store"
	"github.com/tokenserver/tokenserver/store/redis"
	"github.com/tokenserver/tokenserver/store/storetest"
	"github.com/tokenserver/tokenserver/verifier"
)

func TestMain(m *testing.M) { storetest.Main(m) }

// TestFeedSourceWithRedis runs Push against a real redis-server: pub/sub
// delivery, and a server restart that loses every key. The restart's
// Resync reloads an empty snapshot, which must not un-revoke anything.
func TestFeedSourceWithRedis(t *testing.T) {
	target := storetest.StartRedis(t)
	ctx := context.Background()
	st, err := redis.Open(ctx, redis.Config{URL: target.URL(), Prefix: target.Prefix})
	must(t, err)
	t.Cleanup(func() { st.Close() })

	clk := newClock()
	k := newKey(t, "k", "ES256")
	is := newIssuer(t, k)
	now := time.Now() // redis expires keys by the real clock
	revoke := func(jti string, publish bool) {
		t.Helper()
		r := store.Revocation{Kind: store.RevokeJTI, Value: jti, ExpiresAt: now.Add(time.Hour), CreatedAt: now}
		must(t, st.Revoke(ctx, r))
		if publish {
			must(t, st.Publish(ctx, r))
		}
	}
	tok := func(jti string) string {
		c := is.claims(clk.Now())
		c["jti"] = jti
		return k.sign(t, c, nil)
	}
	// The token server marks the cache complete after each reseed; until
	// then the snapshot (Active) refuses to pass off an empty cache.
	seeded := func() error {
		token, err := st.BeginSeed(ctx)
		if err != nil {
			return err
		}
		return st.CompleteSeed(ctx, token)
	}
	must(t, seeded())
	revoke("early", false)

	src := verifier.FeedSource(st, func(ctx context.Context) ([]store.Revocation, error) { return st.Active(ctx, time.Now()) })
	p := startPush(t, src, clk, 30*time.Second)
	ready(t, p)
	v := newVerifier(t, is, clk, p)
	if _, err := v.Verify(ctx, tok("early")); !errors.Is(err, verifier.ErrRevoked) {
		t.Fatalf("snapshot entry: %v, want ErrRevoked", err)
	}
	live := tok("published")
	if _, err := v.Verify(ctx, live); err != nil {
		t.Fatal(err)
	}
	revoke("published", true)
	revokedWithin(t, v, live, time.Second)

	storetest.RestartRedis(t)
	afterRestart := tok("after-restart")
	// The feed reconnects by itself; publish until the revocation lands.
	waitFor(t, 15*time.Second, "revocation after the restart", func() bool {
		if err := seeded(); err != nil { // the token server's reseed of the emptied cache
			return false
		}
		if err := st.Publish(ctx, store.Revocation{Kind: store.RevokeJTI, Value: "after-restart", ExpiresAt: now.Add(time.Hour), CreatedAt: now}); err != nil {
			return false
		}
		time.Sleep(50 * time.Millisecond)
		_, err := v.Verify(ctx, afterRestart)
		return errors.Is(err, verifier.ErrRevoked)
	})
	for _, jti := range []string{"early", "published"} {
		if _, err := v.Verify(ctx, tok(jti)); !errors.Is(err, verifier.ErrRevoked) {
			t.Errorf("%s after the restart emptied redis: %v, want still ErrRevoked", jti, err)
		}
	}
}

// TestDPoPReplayAcrossInstancesWithRedis: two resource server instances
// sharing the Redis replay cache (store/redis, the same one the token
// server uses) accept a proof once between them (RFC 9449 §11.1).
func TestDPoPReplayAcrossInstancesWithRedis(t *testing.T) {
	target := storetest.StartRedis(t)
	ctx := context.Background()
	st, err := redis.Open(ctx, redis.Config{URL: target.URL(), Prefix: target.Prefix})
	must(t, err)
	t.Cleanup(func() { st.Close() })

	// Redis expires entries by the real clock, so the proofs use it too.
	clk := &clock{t: time.Now()}
	cfg := verifier.DPoPConfig{Replay: st}
	a := newDPoPHarnessAt(t, clk, cfg)
	other, err := verifier.New(ctx, verifier.Config{Issuer: a.is.URL, Audience: testAudience, Now: clk.Now, Realm: "api", DPoP: cfg})
	must(t, err)
	b := *a
	b.h = verifier.Middleware(other, "read")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello %s", verifier.ClaimsFromContext(r.Context()).Username)
	}))

	tok := a.bound(a.key)
	proof := a.proof(a.key, tok)
	req := request{auth: []string{"DPoP " + tok}, proofs: []string{proof}}
	check(t, a.do(req), want{200, nil, "", false})
	check(t, b.do(req), want{401, []string{dpopChallenge("invalid_dpop_proof", "Invalid DPoP proof: replayed")}, "invalid_dpop_proof", false})
	// A fresh proof is fine on either.
	check(t, b.do(request{auth: []string{"DPoP " + tok}, proofs: []string{a.proof(a.key, tok)}}), want{200, nil, "", false})
}
