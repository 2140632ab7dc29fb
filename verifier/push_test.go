package verifier_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokenserver/tokenserver/store"
	"github.com/tokenserver/tokenserver/store/memory"
	"github.com/tokenserver/tokenserver/verifier"
)

// startPush starts a Push on src with test-speed backoff, stopped at cleanup.
func startPush(t *testing.T, src verifier.Source, clk *clock, maxStaleness time.Duration) *verifier.Push {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	p, err := verifier.NewPush(ctx, verifier.PushConfig{
		Source:        src,
		MaxStaleness:  maxStaleness,
		MinBackoff:    10 * time.Millisecond,
		MaxBackoff:    50 * time.Millisecond,
		PruneInterval: 10 * time.Millisecond,
		Now:           clk.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		<-p.Done()
	})
	return p
}

func ready(t *testing.T, p *verifier.Push) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.Ready(ctx); err != nil {
		t.Fatalf("Ready: %v", err)
	}
}

// revokedWithin polls Verify until it reports ErrRevoked, for up to d.
func revokedWithin(t *testing.T, v *verifier.Verifier, token string, d time.Duration) {
	t.Helper()
	waitFor(t, d, "token to be revoked", func() bool {
		_, err := v.Verify(context.Background(), token)
		return errors.Is(err, verifier.ErrRevoked)
	})
}

func TestPushSSE(t *testing.T) {
	clk := newClock()
	k := newKey(t, "k", "ES256")
	is := newIssuer(t, k)
	now := clk.Now()
	is.revoke(store.Revocation{Kind: store.RevokeJTI, Value: "revoked-before-start", ExpiresAt: now.Add(time.Hour), CreatedAt: now})

	p := startPush(t, verifier.SSESource(is.URL, testClientID, testSecret, nil), clk, 0)
	ready(t, p)
	v := newVerifier(t, is, clk, p)
	ctx := context.Background()
	token := func(kv ...any) string {
		c := is.claims(clk.Now())
		for i := 0; i < len(kv); i += 2 {
			c[kv[i].(string)] = kv[i+1]
		}
		return k.sign(t, c, nil)
	}

	t.Run("snapshot on connect", func(t *testing.T) {
		if _, err := v.Verify(ctx, token("jti", "revoked-before-start")); !errors.Is(err, verifier.ErrRevoked) {
			t.Fatalf("Verify: %v, want ErrRevoked", err)
		}
		// Connected means fresh, however much time passes.
		clk.Advance(time.Minute)
		if p.Staleness() != 0 {
			t.Fatalf("Staleness = %s while connected", p.Staleness())
		}
	})
	t.Run("jti revoked by event within 1s", func(t *testing.T) {
		tok := token("jti", "live-1")
		if _, err := v.Verify(ctx, tok); err != nil {
			t.Fatal(err)
		}
		is.revoke(store.Revocation{Kind: store.RevokeJTI, Value: "live-1", ExpiresAt: now.Add(time.Hour), CreatedAt: now})
		revokedWithin(t, v, tok, time.Second)
	})
	t.Run("sid revokes every token of the session", func(t *testing.T) {
		a, b, other := token("sid", "sess-9"), token("sid", "sess-9"), token("sid", "sess-10")
		is.revoke(store.Revocation{Kind: store.RevokeSID, Value: "sess-9", ExpiresAt: now.Add(time.Hour), CreatedAt: now})
		revokedWithin(t, v, a, time.Second)
		revokedWithin(t, v, b, time.Second)
		if _, err := v.Verify(ctx, other); err != nil {
			t.Fatalf("other session: %v", err)
		}
	})
	t.Run("sub not-before in whole seconds", func(t *testing.T) {
		nb := now.Add(-10 * time.Second)
		before := token("sub", "user-7", "iat", nb.Add(-time.Minute).Unix())
		sameSecond := token("sub", "user-7", "iat", float64(nb.Unix())+0.9)
		after := token("sub", "user-7", "iat", nb.Add(time.Second).Unix())
		otherUser := token("sub", "user-8", "iat", nb.Add(-time.Minute).Unix())
		is.revoke(store.Revocation{Kind: store.RevokeSub, Value: "user-7", NotBefore: nb.Add(500 * time.Millisecond), ExpiresAt: now.Add(time.Hour), CreatedAt: now})
		revokedWithin(t, v, before, time.Second)
		revokedWithin(t, v, sameSecond, time.Second)
		for name, tok := range map[string]string{"issued after not-before": after, "other user": otherUser} {
			if _, err := v.Verify(ctx, tok); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}
		// A later not-before for the same user wins.
		is.revoke(store.Revocation{Kind: store.RevokeSub, Value: "user-7", NotBefore: nb.Add(5 * time.Second), ExpiresAt: now.Add(time.Hour), CreatedAt: now})
		revokedWithin(t, v, after, time.Second)
	})
	t.Run("unknown kind is ignored", func(t *testing.T) {
		n := p.Len()
		is.revoke(store.Revocation{Kind: "client", Value: "app", ExpiresAt: now.Add(time.Hour)})
		is.revoke(store.Revocation{Kind: store.RevokeJTI, Value: "marker", ExpiresAt: now.Add(time.Hour)})
		waitFor(t, time.Second, "marker", func() bool { return p.Len() == n+1 })
	})
}

func TestPushReconnectsAndFailsClosedWhenStale(t *testing.T) {
	clk := newClock()
	k := newKey(t, "k", "ES256")
	is := newIssuer(t, k)
	p := startPush(t, verifier.SSESource(is.URL, testClientID, testSecret, nil), clk, 30*time.Second)
	ready(t, p)
	v := newVerifier(t, is, clk, p)
	ctx := context.Background()
	now := clk.Now()
	claims := is.claims(now)
	claims["exp"] = now.Add(time.Hour).Unix()
	claims["jti"] = "revoked-while-down"
	tok := k.sign(t, claims, nil)
	if _, err := v.Verify(ctx, tok); err != nil {
		t.Fatal(err)
	}

	// The token server goes down; a revocation happens meanwhile.
	is.setStreamDown(true)
	is.dropStreams()
	is.revoke(store.Revocation{Kind: store.RevokeJTI, Value: "revoked-while-down", ExpiresAt: now.Add(2 * time.Hour), CreatedAt: now})
	waitFor(t, 2*time.Second, "disconnect", func() bool { clk.Advance(time.Millisecond); return p.Staleness() > 0 })

	clk.Advance(10 * time.Second)
	s1 := p.Staleness()
	if s1 < 10*time.Second {
		t.Fatalf("Staleness = %s after 10s down", s1)
	}
	// Within MaxStaleness the last known set still answers.
	if _, err := v.Verify(ctx, tok); err != nil {
		t.Fatalf("within MaxStaleness: %v", err)
	}
	clk.Advance(21 * time.Second)
	if s2 := p.Staleness(); s2 <= s1 || s2 <= 30*time.Second {
		t.Fatalf("Staleness = %s, want growing past 30s (was %s)", s2, s1)
	}
	if _, err := v.Verify(ctx, tok); !errors.Is(err, verifier.ErrRevocationUnavailable) || errors.Is(err, verifier.ErrInvalidToken) {
		t.Fatalf("beyond MaxStaleness: %v, want ErrRevocationUnavailable only", err)
	}

	// The server comes back: the client reconnects, reloads the snapshot
	// and learns the revocation it missed.
	is.setStreamDown(false)
	revokedWithin(t, v, tok, 5*time.Second)
	clk.Advance(time.Minute)
	if s := p.Staleness(); s != 0 {
		t.Fatalf("Staleness = %s after reconnect", s)
	}
	if n := is.streamConns.Load(); n != 2 {
		t.Fatalf("stream connections = %d, want 2", n)
	}
}

func TestPushFailsClosedUntilSynchronised(t *testing.T) {
	clk := newClock()
	k := newKey(t, "k", "ES256")
	is := newIssuer(t, k)
	p := startPush(t, verifier.SSESource(is.URL, testClientID, "wrong secret", nil), clk, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := p.Ready(ctx); err == nil || !strings.Contains(err.Error(), "status 401") {
		t.Fatalf("Ready: %v, want the 401 that keeps it from syncing", err)
	}
	v := newVerifier(t, is, clk, p)
	if _, err := v.Verify(context.Background(), k.sign(t, is.claims(clk.Now()), nil)); !errors.Is(err, verifier.ErrRevocationUnavailable) {
		t.Fatalf("Verify before sync: %v, want ErrRevocationUnavailable", err)
	}
}

func TestSSEIdleConnectionIsDropped(t *testing.T) {
	clk := newClock()
	is := newIssuer(t, newKey(t, "k", "ES256"))
	is.sendPings = false
	src := verifier.SSESource(is.URL, testClientID, testSecret, nil)
	src.IdleTimeout = 100 * time.Millisecond
	p := startPush(t, src, clk, 0)
	ready(t, p)
	// Silent connections are dropped and replaced.
	waitFor(t, 5*time.Second, "reconnects", func() bool { return is.streamConns.Load() >= 3 })
}

func TestPushPrunesExpiredEntries(t *testing.T) {
	clk := newClock()
	is := newIssuer(t, newKey(t, "k", "ES256"))
	now := clk.Now()
	is.revoke(store.Revocation{Kind: store.RevokeJTI, Value: "short", ExpiresAt: now.Add(time.Minute)})
	is.revoke(store.Revocation{Kind: store.RevokeSID, Value: "short", ExpiresAt: now.Add(time.Minute)})
	is.revoke(store.Revocation{Kind: store.RevokeSub, Value: "long", NotBefore: now, ExpiresAt: now.Add(time.Hour)})
	is.revoke(store.Revocation{Kind: store.RevokeJTI, Value: "already-expired", ExpiresAt: now.Add(-time.Second)})
	p := startPush(t, verifier.SSESource(is.URL, testClientID, testSecret, nil), clk, 0)
	ready(t, p)
	if n := p.Len(); n != 3 {
		t.Fatalf("Len = %d, want 3 (the expired entry is not stored)", n)
	}
	clk.Advance(2 * time.Minute)
	waitFor(t, 2*time.Second, "pruning", func() bool { return p.Len() == 1 })
}

func TestFeedSourceWithMemoryStore(t *testing.T) {
	clk := newClock()
	k := newKey(t, "k", "ES256")
	is := newIssuer(t, k)
	mem := memory.New(clk.Now)
	ctx := context.Background()
	now := clk.Now()
	must(t, mem.Revoke(ctx, store.Revocation{Kind: store.RevokeJTI, Value: "early", ExpiresAt: now.Add(time.Hour), CreatedAt: now}))

	var failSnapshot atomic.Bool
	src := verifier.FeedSource(mem, func(ctx context.Context) ([]store.Revocation, error) {
		if failSnapshot.Load() {
			return nil, store.ErrUnavailable
		}
		return mem.Active(ctx, clk.Now())
	})
	src.ResyncInterval = 50 * time.Millisecond
	p := startPush(t, src, clk, 30*time.Second)
	ready(t, p)
	v := newVerifier(t, is, clk, p)
	tok := func(jti string) string {
		c := is.claims(clk.Now())
		c["jti"] = jti
		c["exp"] = now.Add(time.Hour).Unix()
		return k.sign(t, c, nil)
	}

	if _, err := v.Verify(ctx, tok("early")); !errors.Is(err, verifier.ErrRevoked) {
		t.Fatalf("snapshot entry: %v", err)
	}
	// Published revocations arrive through the subscription.
	live := tok("published")
	r := store.Revocation{Kind: store.RevokeJTI, Value: "published", ExpiresAt: now.Add(time.Hour), CreatedAt: now}
	must(t, mem.Revoke(ctx, r))
	must(t, mem.Publish(ctx, r))
	revokedWithin(t, v, live, time.Second)
	// A revocation whose publish was lost is repaired by the periodic resync.
	lost := tok("unpublished")
	must(t, mem.Revoke(ctx, store.Revocation{Kind: store.RevokeJTI, Value: "unpublished", ExpiresAt: now.Add(time.Hour), CreatedAt: now}))
	revokedWithin(t, v, lost, 2*time.Second)

	// The snapshot source failing ends the stream: staleness grows and the
	// verifier fails closed after MaxStaleness.
	failSnapshot.Store(true)
	waitFor(t, 2*time.Second, "disconnect", func() bool { clk.Advance(time.Millisecond); return p.Staleness() > 0 })
	clk.Advance(31 * time.Second)
	if _, err := v.Verify(ctx, tok("fresh")); !errors.Is(err, verifier.ErrRevocationUnavailable) {
		t.Fatalf("stale feed: %v, want ErrRevocationUnavailable", err)
	}
	failSnapshot.Store(false)
	waitFor(t, 5*time.Second, "resync", func() bool { return p.Staleness() == 0 })
	clk.Advance(time.Minute)
	if _, err := v.Verify(ctx, tok("fresh")); err != nil {
		t.Fatalf("after resync: %v", err)
	}
}
