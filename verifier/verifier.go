package verifier

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Verifier verifies access tokens of one issuer for one audience. It is
// safe for concurrent use.
type Verifier struct {
	issuer     string
	audience   string
	leeway     time.Duration
	now        func() time.Time
	revocation RevocationChecker
	realm      string
	logger     *slog.Logger
	metadata   Metadata
	jwks       *jwksCache
	dpop       *dpopSetup
}

// New discovers the issuer's metadata (unless Config.Metadata is set),
// fetches its JWKS and returns a Verifier. It fails if discovery or the
// first JWKS fetch fails, so a misconfigured resource server stops at start.
func New(ctx context.Context, cfg Config) (*Verifier, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	md := cfg.Metadata
	if md == nil {
		if md, err = Discover(ctx, cfg.HTTPClient, cfg.Issuer, cfg.AllowHTTP); err != nil {
			return nil, err
		}
	} else {
		if md.Issuer != cfg.Issuer {
			return nil, fmt.Errorf("verifier: metadata issuer %q differs from configured issuer %q", md.Issuer, cfg.Issuer)
		}
		if err := checkURL("jwks_uri", md.JWKSURI, cfg.AllowHTTP); err != nil {
			return nil, err
		}
	}
	ds, err := newDPoPSetup(cfg.DPoP, cfg.Now)
	if err != nil {
		return nil, err
	}
	v := &Verifier{
		issuer:     cfg.Issuer,
		audience:   cfg.Audience,
		leeway:     cfg.Leeway,
		now:        cfg.Now,
		revocation: cfg.Revocation,
		realm:      cfg.Realm,
		logger:     cfg.Logger,
		metadata:   *md,
		jwks:       newJWKSCache(md.JWKSURI, cfg),
		dpop:       ds,
	}
	if err := v.jwks.refresh(ctx); err != nil {
		return nil, err
	}
	if n, ok := cfg.Revocation.(kidRevocationNotifier); ok {
		n.onKIDRevoked(func(kid string) { v.jwks.forget(kid) })
	}
	return v, nil
}

// Metadata returns the issuer metadata the verifier uses.
func (v *Verifier) Metadata() Metadata { return v.metadata }

// Verify checks a bearer token and returns its claims. A DPoP-bound token
// (one with cnf.jkt) is refused with ErrDPoPBound (RFC 9449 §7.2): it
// must come with a proof of its key, see VerifyDPoP. Errors:
//   - wrapping ErrExpired when exp has passed;
//   - wrapping ErrRevoked when the revocation checker says so;
//   - wrapping ErrInvalidToken for every other reason to reject the token
//     (ErrExpired and ErrRevoked wrap it too);
//   - wrapping ErrRevocationUnavailable when the revocation status cannot
//     be established (fail closed; not a token error);
//   - the context's error if ctx ends while waiting for keys or revocation.
func (v *Verifier) Verify(ctx context.Context, token string) (*Claims, error) {
	c, err := v.verify(ctx, token)
	if err != nil {
		return nil, err
	}
	if c.JKT != "" {
		return nil, ErrDPoPBound
	}
	return c, nil
}

// verify checks token whatever its binding: signature, claims and
// revocation.
func (v *Verifier) verify(ctx context.Context, token string) (*Claims, error) {
	now := v.now()
	c, err := v.verifyToken(ctx, token, now)
	if err != nil {
		return nil, err
	}
	if v.revocation == nil {
		return c, nil
	}
	var revoked bool
	if tc, ok := v.revocation.(tokenChecker); ok {
		revoked, err = tc.revokedToken(ctx, c, token)
	} else {
		revoked, err = v.revocation.Revoked(ctx, c)
	}
	switch {
	case err != nil:
		if errors.Is(err, ErrRevocationUnavailable) || errors.Is(err, ctx.Err()) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %w", ErrRevocationUnavailable, err)
	case revoked:
		return nil, ErrRevoked
	}
	return c, nil
}
