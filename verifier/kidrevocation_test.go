package verifier_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tokenserver/tokenserver/store"
	"github.com/tokenserver/tokenserver/store/memory"
	"github.com/tokenserver/tokenserver/verifier"
)

// hangBound only detects a hang; nothing asserts how fast things happen.
const hangBound = 20 * time.Second

// rejectedWithin polls Verify until it rejects token as a bad token (the
// key dropped from the JWKS cache: unknown kid; or the kid revocation:
// ErrRevoked, which wraps ErrInvalidToken too).
func rejectedWithin(t *testing.T, v *verifier.Verifier, token string) {
	t.Helper()
	waitFor(t, hangBound, "token to be rejected", func() bool {
		_, err := v.Verify(context.Background(), token)
		return errors.Is(err, verifier.ErrInvalidToken) && !errors.Is(err, verifier.ErrRevocationUnavailable)
	})
}

// kidRevocation revokes every token signed by kid for an hour.
func kidRevocation(kid string, now time.Time) store.Revocation {
	return store.Revocation{Kind: store.RevokeKID, Value: kid, ExpiresAt: now.Add(time.Hour), CreatedAt: now}
}

// A kid revocation pushed over the SSE feed refuses every token of that
// key, and only those tokens.
func TestPushKIDRevocationRefusesTheKeysTokens(t *testing.T) {
	clk := newClock()
	leaked, other := newKey(t, "leaked", "ES256"), newKey(t, "other", "ES256")
	is := newIssuer(t, leaked, other)
	p := startPush(t, verifier.SSESource(is.URL, testClientID, testSecret, nil), clk, 0)
	ready(t, p)
	v := newVerifier(t, is, clk, p)
	ctx := context.Background()
	sign := func(k *signingKey, sub string) string {
		c := is.claims(clk.Now())
		c["sub"] = sub
		return k.sign(t, c, nil)
	}
	leakedTok, otherTok := sign(leaked, "user-1"), sign(other, "user-1")
	for name, tok := range map[string]string{"leaked": leakedTok, "other": otherTok} {
		c, err := v.Verify(ctx, tok)
		if err != nil {
			t.Fatalf("%s key before the revocation: %v", name, err)
		}
		if c.KeyID != name {
			t.Errorf("Claims.KeyID = %q, want %q", c.KeyID, name)
		}
	}

	is.revoke(kidRevocation("leaked", clk.Now()))
	rejectedWithin(t, v, leakedTok)
	// Every token of the key, whoever it names: forged ones too.
	if _, err := v.Verify(ctx, sign(leaked, "admin")); !errors.Is(err, verifier.ErrInvalidToken) {
		t.Errorf("another token of the revoked key: %v, want rejected", err)
	}
	// Push refuses the key's tokens by itself, whatever any JWKS says.
	for _, c := range []verifier.Claims{
		{KeyID: "leaked", Subject: "user-1", JTI: "j1", IssuedAt: clk.Now()},
		{KeyID: "leaked", Subject: "admin", JTI: "j2", SID: "s2", IssuedAt: clk.Now()},
	} {
		if revoked, err := p.Revoked(ctx, &c); err != nil || !revoked {
			t.Errorf("Push.Revoked(%+v) = %v, %v; want true", c, revoked, err)
		}
	}
	if revoked, err := p.Revoked(ctx, &verifier.Claims{KeyID: "other", Subject: "user-1", JTI: "j3", IssuedAt: clk.Now()}); err != nil || revoked {
		t.Errorf("Push.Revoked(other key) = %v, %v; want false", revoked, err)
	}
	if _, err := v.Verify(ctx, otherTok); err != nil {
		t.Errorf("token of another key: %v", err)
	}
	if _, err := v.Verify(ctx, sign(other, "user-2")); err != nil {
		t.Errorf("new token of another key: %v", err)
	}
	// The kid of one key is no jti, sid or sub.
	c := is.claims(clk.Now())
	c["jti"], c["sid"], c["sub"] = "leaked", "leaked", "leaked"
	if _, err := v.Verify(ctx, other.sign(t, c, nil)); err != nil {
		t.Errorf("token whose claims equal the revoked kid: %v", err)
	}
}

// A verifier that connects after the rotation gets the kid entry in the
// snapshot; the entry is pruned once it expires.
func TestPushKIDRevocationInSnapshot(t *testing.T) {
	clk := newClock()
	leaked, other := newKey(t, "leaked", "ES256"), newKey(t, "other", "ES256")
	is := newIssuer(t, leaked, other)
	now := clk.Now()
	r := kidRevocation("leaked", now)
	r.ExpiresAt = now.Add(time.Minute)
	is.revoke(r)
	p := startPush(t, verifier.SSESource(is.URL, testClientID, testSecret, nil), clk, 0)
	ready(t, p)
	if n := p.Len(); n != 1 {
		t.Fatalf("Len = %d, want 1", n)
	}
	v := newVerifier(t, is, clk, p)
	ctx := context.Background()
	if _, err := v.Verify(ctx, leaked.sign(t, is.claims(now), nil)); !errors.Is(err, verifier.ErrRevoked) {
		t.Errorf("token of the revoked key: %v, want ErrRevoked", err)
	}
	if _, err := v.Verify(ctx, other.sign(t, is.claims(now), nil)); err != nil {
		t.Errorf("token of another key: %v", err)
	}
	clk.Advance(2 * time.Minute)
	waitFor(t, hangBound, "pruning", func() bool { return p.Len() == 0 })
}

// Over a store feed (the Redis mode's shape): a published kid revocation
// refuses the key's tokens.
func TestFeedKIDRevocation(t *testing.T) {
	clk := newClock()
	leaked, other := newKey(t, "leaked", "ES256"), newKey(t, "other", "ES256")
	is := newIssuer(t, leaked, other)
	mem := memory.New(clk.Now)
	src := verifier.FeedSource(mem, func(ctx context.Context) ([]store.Revocation, error) { return mem.Active(ctx, clk.Now()) })
	src.ResyncInterval = -1 // only the published event can deliver it
	p := startPush(t, src, clk, 0)
	ready(t, p)
	v := newVerifier(t, is, clk, p)
	ctx := context.Background()
	tok := leaked.sign(t, is.claims(clk.Now()), nil)
	if _, err := v.Verify(ctx, tok); err != nil {
		t.Fatal(err)
	}
	r := kidRevocation("leaked", clk.Now())
	must(t, mem.Revoke(ctx, r))
	must(t, mem.Publish(ctx, r))
	rejectedWithin(t, v, tok)
	if _, err := v.Verify(ctx, other.sign(t, is.claims(clk.Now()), nil)); err != nil {
		t.Errorf("token of another key: %v", err)
	}
}

// A kid revocation makes the verifier drop the key and refetch the JWKS at
// once, although unknown kids are throttled (the clock never moves here, so
// no other fetch can happen), so a key that signs from now on is known
// without waiting for max-age. When the refetch reaches an issuer instance
// that has not reloaded yet and still lists the key, the key is back in the
// cache, and the kid revocation still refuses its tokens.
func TestKIDRevocationRefetchesJWKS(t *testing.T) {
	for _, tc := range []struct {
		name string
		// stillListed: the refetched JWKS still has the revoked key.
		stillListed bool
	}{
		{"key unpublished", false},
		{"stale instance still lists the key", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := newClock()
			leaked, other := newKey(t, "leaked", "ES256"), newKey(t, "other", "ES256")
			is := newIssuer(t, leaked, other)
			p := startPush(t, verifier.SSESource(is.URL, testClientID, testSecret, nil), clk, 0)
			ready(t, p)
			v := newVerifier(t, is, clk, p)
			ctx := context.Background()
			// Use up the unknown-kid fetch budget.
			bogus := newKey(t, "bogus", "ES256")
			for range 2 {
				if _, err := v.Verify(ctx, bogus.sign(t, is.claims(clk.Now()), nil)); !errors.Is(err, verifier.ErrInvalidToken) {
					t.Fatalf("bogus kid: %v", err)
				}
			}
			fetches := is.jwksFetches.Load()

			// Emergency rotation: a new key signs.
			fresh := newKey(t, "fresh", "ES256")
			if tc.stillListed {
				is.setKeys(leaked, other, fresh)
			} else {
				is.setKeys(other, fresh)
			}
			freshTok := fresh.sign(t, is.claims(clk.Now()), nil)
			if _, err := v.Verify(ctx, freshTok); !errors.Is(err, verifier.ErrInvalidToken) {
				t.Fatalf("new key before the revocation: %v, want unknown kid (throttled)", err)
			}
			is.revoke(kidRevocation("leaked", clk.Now()))
			waitFor(t, hangBound, "the new key to be fetched", func() bool {
				_, err := v.Verify(ctx, freshTok)
				return err == nil
			})
			if n := is.jwksFetches.Load() - fetches; n != 1 {
				t.Errorf("JWKS fetches after the revocation = %d, want 1", n)
			}
			_, err := v.Verify(ctx, leaked.sign(t, is.claims(clk.Now()), nil))
			if tc.stillListed {
				if !errors.Is(err, verifier.ErrRevoked) {
					t.Errorf("token of the revoked key, still in the JWKS: %v, want ErrRevoked", err)
				}
			} else if !errors.Is(err, verifier.ErrInvalidToken) || errors.Is(err, verifier.ErrRevoked) {
				t.Errorf("token of the unpublished key: %v, want unknown kid", err)
			}
		})
	}
}
