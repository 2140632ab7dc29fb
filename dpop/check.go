package dpop

import (
	"context"
	"crypto/sha256"
	"fmt"
	"time"

	"github.com/tokenserver/tokenserver/store"
)

// Defaults of Checker.
const (
	// DefaultMaxAge: how long after its iat a proof is accepted (§11.1
	// leaves the window to the server; proofs are made just before use).
	DefaultMaxAge = 60 * time.Second
	// DefaultMaxSkew: how far in the future an iat may be, for clients whose
	// clock runs a little ahead.
	DefaultMaxSkew = 5 * time.Second
)

// ReplayCache remembers proofs seen; store.ProofReplayCache is the
// contract. NewMemoryReplayCache and store/redis implement it.
type ReplayCache = store.ProofReplayCache

// Request is what a proof is checked against: the HTTP request it came with.
type Request struct {
	// Method is the request's method (htm, compared exactly).
	Method string
	// URL is the absolute URL the request was sent to, as the client saw it
	// (behind proxies: the external URL); query and fragment are ignored.
	URL string
	// AccessToken, when not "", is the access token presented with the
	// proof: the proof must carry ath, its hash (§4.3 check 12).
	AccessToken string
}

// Checker checks proofs against requests. The zero value checks with the
// defaults, no nonce and no replay cache; set fields before first use and
// do not change them after.
type Checker struct {
	// Algorithms narrows Algorithms() (nil: all of them).
	Algorithms []string
	// MaxAge and MaxSkew bound iat: now-MaxAge <= iat <= now+MaxSkew.
	// Zero means the default.
	MaxAge, MaxSkew time.Duration
	// CheckNonce, when set, checks the proof's nonce ("" when it has none);
	// an error makes Check fail with ErrUseNonce. Nonces.Check fits.
	CheckNonce func(nonce string) error
	// Replay, when set, records each accepted proof until it could no
	// longer be accepted; a proof seen before is ErrReplayed. Without it
	// replays within MaxAge pass.
	Replay ReplayCache
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// Check parses proof and checks it against req (RFC 9449 §4.3): htm, htu,
// iat within the window, ath when req carries an access token, the nonce,
// and last (so refused proofs are never recorded) that its jti is new.
//
// Errors wrap ErrInvalidProof or ErrUseNonce; a failing replay cache's
// error is returned wrapped (usually store.ErrUnavailable) and the proof
// must be refused, not accepted.
func (c *Checker) Check(ctx context.Context, proof string, req Request) (*Proof, error) {
	p, err := Parse(proof, c.Algorithms...)
	if err != nil {
		return nil, err
	}
	// §4.3 check 8: htm matches the method; methods are case-sensitive
	// (RFC 9110 §9.1).
	if p.Method != req.Method {
		return nil, invalid("htm %q does not match the request method", clip(p.Method))
	}
	// §4.3 check 9.
	if !SameURL(p.URL, req.URL) {
		return nil, invalid("htu %q does not match the request URL", clip(p.URL))
	}
	// §4.3 check 11: iat within an acceptable window.
	now := time.Now()
	if c.Now != nil {
		now = c.Now()
	}
	maxAge, maxSkew := c.MaxAge, c.MaxSkew
	if maxAge <= 0 {
		maxAge = DefaultMaxAge
	}
	if maxSkew <= 0 {
		maxSkew = DefaultMaxSkew
	}
	// iat has whole seconds: allow the second it was truncated from.
	if p.IssuedAt.Before(now.Add(-maxAge - time.Second)) {
		return nil, invalid("issued at %s, older than %s", p.IssuedAt.UTC().Format(time.RFC3339), maxAge)
	}
	if p.IssuedAt.After(now.Add(maxSkew)) {
		return nil, invalid("issued at %s, in the future", p.IssuedAt.UTC().Format(time.RFC3339))
	}
	// §4.3 check 12: with an access token, ath is its hash.
	if req.AccessToken != "" && !athMatches(p.AccessTokenHash, req.AccessToken) {
		if p.AccessTokenHash == "" {
			return nil, invalid("no ath with an access token")
		}
		return nil, invalid("ath does not match the access token")
	}
	// §4.3 check 10, §8.
	if c.CheckNonce != nil {
		if err := c.CheckNonce(p.Nonce); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrUseNonce, err)
		}
	}
	// §11.1: a jti is accepted once while the proof could be accepted. The
	// key names the jti per public key, so one client cannot burn another
	// key's jti values.
	if c.Replay != nil {
		until := p.IssuedAt.Add(maxAge + time.Second)
		replayed, err := c.Replay.Seen(ctx, p.JKT+"."+p.ID, until)
		if err != nil {
			return nil, fmt.Errorf("dpop: replay check: %w", err)
		}
		if replayed {
			return nil, ErrReplayed
		}
	}
	return p, nil
}

// athMatches reports whether ath is AccessTokenHash(accessToken), encoding
// on the stack (this runs on every DPoP request at a resource server).
func athMatches(ath, accessToken string) bool {
	sum := sha256.Sum256([]byte(accessToken))
	var enc [43]byte // base64url of 32 octets, unpadded
	b64.Encode(enc[:], sum[:])
	return ath == string(enc[:])
}

// AccessTokenHash returns ath for an access token (§4.2): base64url of the
// SHA-256 of its ASCII bytes.
func AccessTokenHash(accessToken string) string {
	sum := sha256.Sum256([]byte(accessToken))
	return b64.EncodeToString(sum[:])
}
