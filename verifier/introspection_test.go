package verifier_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/tokenserver/tokenserver/verifier"
)

func newIntrospection(t *testing.T, is *testIssuer, clk *clock, size int) *verifier.Introspection {
	t.Helper()
	in, err := verifier.NewIntrospection(verifier.IntrospectionConfig{
		Endpoint:     is.URL + "/introspect",
		ClientID:     testClientID,
		ClientSecret: testSecret,
		Now:          clk.Now,
		CacheSize:    size,
	})
	if err != nil {
		t.Fatal(err)
	}
	return in
}

func TestIntrospection(t *testing.T) {
	ctx := context.Background()
	setup := func(t *testing.T, size int) (*testIssuer, *clock, *verifier.Verifier, *signingKey) {
		clk := newClock()
		k := newKey(t, "k", "ES256")
		is := newIssuer(t, k)
		v := newVerifier(t, is, clk, newIntrospection(t, is, clk, size))
		return is, clk, v, k
	}
	setAnswer := func(is *testIssuer, body string, status int) {
		is.mu.Lock()
		is.introspectBody, is.introspectStatus = body, status
		is.mu.Unlock()
	}

	t.Run("active answer is cached for the TTL", func(t *testing.T) {
		is, clk, v, k := setup(t, 0)
		tok := k.sign(t, is.claims(clk.Now()), nil)
		for range 3 {
			if _, err := v.Verify(ctx, tok); err != nil {
				t.Fatal(err)
			}
		}
		if n := is.introspections.Load(); n != 1 {
			t.Fatalf("introspections = %d, want 1", n)
		}
		// After the TTL the server is asked again and its new answer wins.
		setAnswer(is, `{"active":false}`, 0)
		clk.Advance(verifier.DefaultIntrospectionCacheTTL + time.Millisecond)
		if _, err := v.Verify(ctx, tok); !errors.Is(err, verifier.ErrRevoked) {
			t.Fatalf("after TTL: %v, want ErrRevoked", err)
		}
		if n := is.introspections.Load(); n != 2 {
			t.Fatalf("introspections = %d, want 2", n)
		}
	})
	t.Run("inactive answer is kept until the token expires", func(t *testing.T) {
		is, clk, v, k := setup(t, 0)
		setAnswer(is, `{"active":false}`, 0)
		tok := k.sign(t, is.claims(clk.Now()), nil)
		if _, err := v.Verify(ctx, tok); !errors.Is(err, verifier.ErrRevoked) {
			t.Fatalf("Verify: %v, want ErrRevoked", err)
		}
		setAnswer(is, `{"active":true}`, 0)
		clk.Advance(time.Minute)
		if _, err := v.Verify(ctx, tok); !errors.Is(err, verifier.ErrRevoked) {
			t.Fatalf("Verify later: %v, want ErrRevoked", err)
		}
		if n := is.introspections.Load(); n != 1 {
			t.Fatalf("introspections = %d, want 1", n)
		}
	})
	t.Run("cache is bounded", func(t *testing.T) {
		is, clk, v, k := setup(t, 2)
		var toks []string
		for range 3 {
			toks = append(toks, k.sign(t, is.claims(clk.Now()), nil))
		}
		for _, tok := range toks {
			if _, err := v.Verify(ctx, tok); err != nil {
				t.Fatal(err)
			}
		}
		// Three distinct jtis in a cache of two: one was evicted, so
		// verifying all again costs at least one more round trip.
		for _, tok := range toks {
			if _, err := v.Verify(ctx, tok); err != nil {
				t.Fatal(err)
			}
		}
		if n := is.introspections.Load(); n < 4 {
			t.Fatalf("introspections = %d, want >= 4 with a cache of 2", n)
		}
	})
	for _, tc := range []struct {
		name, body string
		status     int
	}{
		{"server error", "", http.StatusInternalServerError},
		{"no active member", `{"scope":"read"}`, 0},
		{"not JSON", `active`, 0},
	} {
		t.Run("fails closed on "+tc.name, func(t *testing.T) {
			is, clk, v, k := setup(t, 0)
			setAnswer(is, tc.body, tc.status)
			_, err := v.Verify(ctx, k.sign(t, is.claims(clk.Now()), nil))
			if !errors.Is(err, verifier.ErrRevocationUnavailable) || errors.Is(err, verifier.ErrInvalidToken) {
				t.Fatalf("Verify: %v, want ErrRevocationUnavailable", err)
			}
		})
	}
	t.Run("wrong client credentials fail closed", func(t *testing.T) {
		clk := newClock()
		k := newKey(t, "k", "ES256")
		is := newIssuer(t, k)
		in, err := verifier.NewIntrospection(verifier.IntrospectionConfig{Endpoint: is.URL + "/introspect", ClientID: testClientID, ClientSecret: "nope", Now: clk.Now})
		must(t, err)
		v := newVerifier(t, is, clk, in)
		if _, err := v.Verify(ctx, k.sign(t, is.claims(clk.Now()), nil)); !errors.Is(err, verifier.ErrRevocationUnavailable) {
			t.Fatalf("Verify: %v, want ErrRevocationUnavailable", err)
		}
	})
}
