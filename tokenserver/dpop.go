package tokenserver

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/tokenserver/tokenserver/dpop"
	"github.com/tokenserver/tokenserver/store"
)

// Error codes of RFC 9449 §5 and §8 at the token endpoint.
const (
	CodeInvalidDPoPProof = "invalid_dpop_proof"
	CodeUseDPoPNonce     = "use_dpop_nonce"
)

// tokenTypeDPoP is the token_type of a DPoP-bound access token (RFC 9449
// §5); unbound ones stay "Bearer".
const (
	tokenTypeDPoP   = "DPoP"
	tokenTypeBearer = "Bearer"
)

// confirmation is the cnf claim of a bound access token (RFC 7800 §3.1,
// RFC 9449 §6.1): the SHA-256 thumbprint of the proof key.
type confirmation struct {
	JKT string `json:"jkt"`
}

// newDPoPChecker builds the proof checker of the token endpoint.
func (s *Server) newDPoPChecker() *dpop.Checker {
	c := &dpop.Checker{MaxAge: s.cfg.DPoP.MaxAge, Replay: s.cfg.DPoP.Replay, Now: s.cfg.Now}
	if s.cfg.DPoP.Nonces != nil {
		c.CheckNonce = s.cfg.DPoP.Nonces.Check
	}
	return c
}

// offerDPoPNonce sends a fresh nonce with every token endpoint answer when
// nonces are on (RFC 9449 §8.2), so a client has one for its next proof.
func (s *Server) offerDPoPNonce(w http.ResponseWriter) error {
	if s.cfg.DPoP.Nonces == nil {
		return nil
	}
	n, err := s.cfg.DPoP.Nonces.Issue()
	if err != nil {
		return err
	}
	w.Header().Set(dpop.NonceHeader, n)
	return nil
}

// checkDPoP checks the request's DPoP proof for client, once per request
// in dispatch, after client authentication (RFC 9449 §5). It returns nil
// for a request without a proof from a client not required to send one.
func (s *Server) checkDPoP(ctx context.Context, r *http.Request, client store.Client) (*dpop.Proof, error) {
	values := r.Header.Values(dpop.HeaderName)
	switch {
	case len(values) > 1:
		// §4.3 check 1: exactly one DPoP header.
		return nil, newError(CodeInvalidDPoPProof, "more than one DPoP header", nil)
	case len(values) == 0 && client.RequireDPoP:
		// §5.2 dpop_bound_access_tokens: such a client's requests without
		// a proof are refused.
		return nil, newError(CodeInvalidDPoPProof, "this client must send a DPoP proof", nil)
	case len(values) == 0:
		return nil, nil
	}
	// htu is the token endpoint as published in our metadata: the URL the
	// client was told to use, whatever proxies sit in front of us.
	p, err := s.dpop.Check(ctx, values[0], dpop.Request{Method: r.Method, URL: s.base + "/token"})
	switch {
	case errors.Is(err, dpop.ErrUseNonce):
		return nil, newError(CodeUseDPoPNonce, "a DPoP proof with the nonce from the DPoP-Nonce header is required", err)
	case errors.Is(err, dpop.ErrInvalidProof):
		// The reason helps client developers; it quotes only what the
		// client itself sent (sanitizeDescription keeps it RFC-shaped).
		reason := strings.TrimPrefix(err.Error(), dpop.ErrInvalidProof.Error()+": ")
		return nil, newError(CodeInvalidDPoPProof, "invalid DPoP proof: "+reason, err)
	case err != nil:
		// The replay cache failed: refuse (503), never accept a proof that
		// may be a replay.
		return nil, storeErr("dpop replay check", err)
	}
	return p, nil
}
