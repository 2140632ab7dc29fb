package verifier

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/tokenserver/tokenserver/dpop"
	"github.com/tokenserver/tokenserver/store"
)

// DPoPMode says which schemes the middleware accepts.
type DPoPMode int

const (
	// DPoPAllowed (the zero value) accepts bearer tokens with the Bearer
	// scheme and DPoP-bound tokens with the DPoP scheme and a proof.
	DPoPAllowed DPoPMode = iota
	// DPoPRequired accepts only DPoP-bound tokens with the DPoP scheme.
	DPoPRequired
	// DPoPDisabled accepts only the Bearer scheme (the behaviour before
	// DPoP). DPoP-bound tokens are refused whatever the mode (RFC 9449
	// §7.2): they are useless without their key.
	DPoPDisabled
)

// DPoPConfig configures DPoP (RFC 9449 §7) at the resource server. The
// zero value accepts both schemes, keeps seen proofs in an in-process
// replay cache, takes the request URL from the request itself and asks for
// no nonce.
type DPoPConfig struct {
	// Mode: which schemes are accepted (DPoPAllowed when zero).
	Mode DPoPMode
	// Replay remembers proofs seen for as long as they could be accepted
	// (§11.1). Share one across instances behind one load balancer (a
	// store/redis Store; use another key prefix than the token server's
	// if you like, the proofs differ by htu anyway). Nil means an
	// in-process dpop.MemoryReplayCache, which catches replays to this
	// instance only.
	Replay store.ProofReplayCache
	// Nonces, when set, makes every proof carry a nonce the resource
	// server provided (§9): a proof without a current one is answered 401
	// use_dpop_nonce with a fresh DPoP-Nonce header, and every accepted
	// DPoP request's answer carries a fresh nonce too. Instances behind
	// one load balancer need the same secret.
	Nonces *dpop.Nonces
	// MaxAge is how old a proof's iat may be (dpop.DefaultMaxAge when 0).
	MaxAge time.Duration
	// Algorithms narrows the proof algorithms accepted and advertised in
	// the algs challenge parameter (nil: dpop.Algorithms()).
	Algorithms []string
	// ExternalURL is the scheme, host and optional path prefix clients use
	// to reach this server, e.g. "https://api.example.com" behind a TLS
	// terminating proxy: a proof's htu is compared with ExternalURL + the
	// request's path (§4.3 check 9). Empty means the request's own scheme
	// (TLS or not), Host header and path; forwarding headers are never
	// trusted. At most one of ExternalURL and RequestURL may be set.
	ExternalURL string
	// RequestURL, when set, returns the absolute URL the client sent r to
	// (query and fragment are ignored), for set-ups ExternalURL cannot
	// describe, such as a proxy rewriting paths.
	RequestURL func(r *http.Request) string
}

// Errors of VerifyDPoP, besides Verify's. Proof refusals wrap
// dpop.ErrInvalidProof, a missing or stale nonce dpop.ErrUseNonce.
var (
	// ErrDPoPBound: a DPoP-bound token (one with cnf.jkt) presented as a
	// bearer token, to Verify or with the Bearer scheme (RFC 9449 §7.2).
	ErrDPoPBound = fmt.Errorf("%w: the token is DPoP-bound", ErrInvalidToken)
	// ErrNotDPoPBound: a token without cnf.jkt presented with the DPoP
	// scheme.
	ErrNotDPoPBound = fmt.Errorf("%w: the token is not DPoP-bound", ErrInvalidToken)
	// ErrDPoPKeyMismatch: the proof is fine but signed by another key than
	// the one the token is bound to (§7.1): a stolen token.
	ErrDPoPKeyMismatch = fmt.Errorf("%w: invalid DPoP key binding", ErrInvalidToken)
	// ErrReplayCheckUnavailable: the replay cache failed, so a replay
	// cannot be told; the request is refused (the middleware answers 503).
	ErrReplayCheckUnavailable = errors.New("verifier: DPoP replay check unavailable")
)

// dpopSetup is what New builds from a DPoPConfig.
type dpopSetup struct {
	mode       DPoPMode
	checker    *dpop.Checker
	nonces     *dpop.Nonces
	requestURL func(r *http.Request) string
	// algs is the algs challenge parameter (§7.1), space-separated.
	algs string
}

func newDPoPSetup(c DPoPConfig, now func() time.Time) (*dpopSetup, error) {
	if c.Mode < DPoPAllowed || c.Mode > DPoPDisabled {
		return nil, fmt.Errorf("verifier: DPoP.Mode %d unknown", c.Mode)
	}
	if c.MaxAge < 0 {
		return nil, fmt.Errorf("verifier: DPoP.MaxAge must not be negative, got %v", c.MaxAge)
	}
	algs := dpop.Algorithms()
	if c.Algorithms != nil {
		for _, a := range c.Algorithms {
			if !slices.Contains(algs, a) {
				return nil, fmt.Errorf("verifier: DPoP.Algorithms: %q is not one of %q", a, algs)
			}
		}
		if len(c.Algorithms) == 0 {
			return nil, errors.New("verifier: DPoP.Algorithms is empty (nil means all)")
		}
		algs = c.Algorithms
	}
	s := &dpopSetup{mode: c.Mode, nonces: c.Nonces, algs: strings.Join(algs, " ")}
	replay := c.Replay
	if replay == nil {
		replay = dpop.NewMemoryReplayCache(0, now)
	}
	s.checker = &dpop.Checker{Algorithms: c.Algorithms, MaxAge: c.MaxAge, Replay: replay, Now: now}
	if c.Nonces != nil {
		s.checker.CheckNonce = c.Nonces.Check
	}
	switch {
	case c.ExternalURL != "" && c.RequestURL != nil:
		return nil, errors.New("verifier: set DPoP.ExternalURL or DPoP.RequestURL, not both")
	case c.RequestURL != nil:
		s.requestURL = c.RequestURL
	case c.ExternalURL != "":
		if _, ok := dpop.NormalizeURL(c.ExternalURL); !ok {
			return nil, fmt.Errorf("verifier: DPoP.ExternalURL %q is not an absolute http(s) URL", c.ExternalURL)
		}
		base := strings.TrimSuffix(c.ExternalURL, "/")
		s.requestURL = func(r *http.Request) string { return base + r.URL.EscapedPath() }
	default:
		s.requestURL = ownURL
	}
	return s, nil
}

// ownURL is the URL of r as this server received it.
func ownURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + r.URL.EscapedPath()
}

// VerifyDPoP checks a token presented with the DPoP scheme (RFC 9449 §7.1)
// and its proof, sent with a request of method to url (the absolute URL
// the client used; see DPoPConfig.ExternalURL): the token as Verify does,
// that it is DPoP-bound, the proof per §4.3 (htm, htu, iat, ath = the
// token's hash, the nonce when DPoPConfig.Nonces is set, a new jti) and
// that the proof's key is the one the token is bound to. Errors: Verify's;
// ErrNotDPoPBound; wrapping dpop.ErrInvalidProof (answer
// invalid_dpop_proof) or dpop.ErrUseNonce (use_dpop_nonce);
// ErrDPoPKeyMismatch; ErrReplayCheckUnavailable.
func (v *Verifier) VerifyDPoP(ctx context.Context, token, proof, method, url string) (*Claims, error) {
	c, err := v.verify(ctx, token)
	if err != nil {
		return nil, err
	}
	if c.JKT == "" {
		return nil, ErrNotDPoPBound
	}
	p, err := v.dpop.checker.Check(ctx, proof, dpop.Request{Method: method, URL: url, AccessToken: token})
	switch {
	case errors.Is(err, dpop.ErrInvalidProof) || errors.Is(err, dpop.ErrUseNonce):
		return nil, err
	case err != nil:
		return nil, fmt.Errorf("%w: %w", ErrReplayCheckUnavailable, err)
	}
	// §7.1 / §6.1: the proof's key must be the one the token is bound to.
	// The proof's jti has been recorded under the proof's own key, so a
	// thief burns only jti values of his own key.
	if p.JKT != c.JKT {
		return nil, ErrDPoPKeyMismatch
	}
	return c, nil
}
