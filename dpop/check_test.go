package dpop

import (
	"context"
	"errors"
	"testing"
	"time"
)

// failingCache injects a replay-cache failure.
type failingCache struct{ err error }

func (f failingCache) Seen(context.Context, string, time.Time) (bool, error) { return false, f.err }

func TestCheck(t *testing.T) {
	key := newECKey(t)
	nonces, err := NewNonces(make([]byte, 32), time.Minute, testClock)
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := nonces.Issue()
	if err != nil {
		t.Fatal(err)
	}
	oldNonces, _ := NewNonces(make([]byte, 32), time.Minute, func() time.Time { return testNow.Add(-2 * time.Minute) })
	stale, _ := oldNonces.Issue()
	req := Request{Method: "POST", URL: testURL}

	for _, tc := range []struct {
		name    string
		claims  ProofClaims
		req     Request
		nonce   bool
		wantErr error // nil: accepted
	}{
		{name: "Valid", req: req},
		{name: "URLNormalized", claims: ProofClaims{URL: "HTTPS://AS.example.com:443/token?x=1#f"}, req: req},
		{name: "RequestURLWithQuery", req: Request{Method: "POST", URL: testURL + "?a=b"}},
		{name: "WrongHTM", claims: ProofClaims{Method: "GET"}, req: req, wantErr: ErrInvalidProof},
		{name: "LowercaseHTM", claims: ProofClaims{Method: "post"}, req: req, wantErr: ErrInvalidProof},
		{name: "WrongHTUPath", claims: ProofClaims{URL: "https://as.example.com/revoke"}, req: req, wantErr: ErrInvalidProof},
		{name: "WrongHTUHost", claims: ProofClaims{URL: "https://evil.example.com/token"}, req: req, wantErr: ErrInvalidProof},
		{name: "WrongHTUScheme", claims: ProofClaims{URL: "http://as.example.com/token"}, req: req, wantErr: ErrInvalidProof},
		{name: "WrongHTUPort", claims: ProofClaims{URL: "https://as.example.com:8443/token"}, req: req, wantErr: ErrInvalidProof},
		{name: "IATAtMaxAge", claims: ProofClaims{IssuedAt: testNow.Add(-DefaultMaxAge)}, req: req},
		{name: "IATTooOld", claims: ProofClaims{IssuedAt: testNow.Add(-DefaultMaxAge - 2*time.Second)}, req: req, wantErr: ErrInvalidProof},
		{name: "IATSkewOK", claims: ProofClaims{IssuedAt: testNow.Add(DefaultMaxSkew)}, req: req},
		{name: "IATFuture", claims: ProofClaims{IssuedAt: testNow.Add(DefaultMaxSkew + time.Second)}, req: req, wantErr: ErrInvalidProof},
		{name: "ATHValid", claims: ProofClaims{AccessToken: "at"}, req: Request{Method: "POST", URL: testURL, AccessToken: "at"}},
		{name: "ATHMissing", req: Request{Method: "POST", URL: testURL, AccessToken: "at"}, wantErr: ErrInvalidProof},
		{name: "ATHWrong", claims: ProofClaims{AccessToken: "other"}, req: Request{Method: "POST", URL: testURL, AccessToken: "at"}, wantErr: ErrInvalidProof},
		{name: "NonceValid", claims: ProofClaims{Nonce: fresh}, req: req, nonce: true},
		{name: "NonceAbsent", req: req, nonce: true, wantErr: ErrUseNonce},
		{name: "NonceStale", claims: ProofClaims{Nonce: stale}, req: req, nonce: true, wantErr: ErrUseNonce},
		{name: "NonceForged", claims: ProofClaims{Nonce: "AAAA"}, req: req, nonce: true, wantErr: ErrUseNonce},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &Checker{Now: testClock, Replay: NewMemoryReplayCache(0, testClock)}
			if tc.nonce {
				c.CheckNonce = nonces.Check
			}
			proof := mustProof(t, key, "", tc.claims)
			p, err := c.Check(t.Context(), proof, tc.req)
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("Check: %v", err)
				}
				if jkt, _ := Thumbprint(key.Public()); p.JKT != jkt {
					t.Errorf("JKT = %s, want %s", p.JKT, jkt)
				}
				return
			}
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Check = %v, want %v", err, tc.wantErr)
			}
			// A nonce refusal is not an invalid proof (different answer).
			if errors.Is(tc.wantErr, ErrUseNonce) && errors.Is(err, ErrInvalidProof) {
				t.Errorf("Check = %v, wraps ErrInvalidProof too", err)
			}
		})
	}
}

func TestCheckReplay(t *testing.T) {
	key := newECKey(t)
	now := testNow
	clock := func() time.Time { return now }
	c := &Checker{Now: clock, Replay: NewMemoryReplayCache(0, clock)}
	req := Request{Method: "POST", URL: testURL}
	proof := mustProof(t, key, "", ProofClaims{ID: "once"})
	if _, err := c.Check(t.Context(), proof, req); err != nil {
		t.Fatalf("first Check: %v", err)
	}
	if _, err := c.Check(t.Context(), proof, req); !errors.Is(err, ErrReplayed) || !errors.Is(err, ErrInvalidProof) {
		t.Fatalf("replayed Check = %v, want ErrReplayed", err)
	}
	// Another key may use the same jti.
	if _, err := c.Check(t.Context(), mustProof(t, newECKey(t), "", ProofClaims{ID: "once"}), req); err != nil {
		t.Fatalf("same jti, other key: %v", err)
	}
	// Past the window the proof is refused for its age, not as a replay,
	// and the cache has let the entry go.
	now = testNow.Add(DefaultMaxAge + 2*time.Second)
	if _, err := c.Check(t.Context(), proof, req); !errors.Is(err, ErrInvalidProof) || errors.Is(err, ErrReplayed) {
		t.Fatalf("old Check = %v, want an age refusal", err)
	}
	// A refused proof is not recorded: the same jti, fresh, passes once.
	if _, err := c.Check(t.Context(), mustProof(t, key, "", ProofClaims{ID: "once", IssuedAt: now}), req); err != nil {
		t.Fatalf("fresh proof reusing an expired jti: %v", err)
	}
}

func TestCheckReplayCacheFailsClosed(t *testing.T) {
	boom := errors.New("boom")
	c := &Checker{Now: testClock, Replay: failingCache{boom}}
	_, err := c.Check(t.Context(), mustProof(t, newECKey(t), "", ProofClaims{}), Request{Method: "POST", URL: testURL})
	if !errors.Is(err, boom) || errors.Is(err, ErrInvalidProof) {
		t.Fatalf("Check = %v, want the cache's error (not an invalid proof)", err)
	}
}

func TestCheckRefusedProofNotRecorded(t *testing.T) {
	cache := NewMemoryReplayCache(0, testClock)
	c := &Checker{Now: testClock, Replay: cache}
	_, err := c.Check(t.Context(), mustProof(t, newECKey(t), "", ProofClaims{Method: "GET"}), Request{Method: "POST", URL: testURL})
	if !errors.Is(err, ErrInvalidProof) {
		t.Fatalf("Check = %v", err)
	}
	if n := cache.Len(); n != 0 {
		t.Errorf("cache holds %d entries after a refused proof, want 0", n)
	}
}
