package tokenserver

import (
	"context"
	"encoding/json"
	"net/http"
	"net/netip"
	"slices"
	"time"

	"github.com/tokenserver/tokenserver/dpop"
	"github.com/tokenserver/tokenserver/store"
)

// Grant types (RFC 6749 §4.3, §4.4, §6).
const (
	grantPassword          = "password"
	grantRefreshToken      = "refresh_token"
	grantClientCredentials = "client_credentials"
)

// grantRequest is what dispatch hands a grant once the request is parsed,
// the client authenticated, and the grant type and scope checked.
type grantRequest struct {
	form   form
	client store.Client
	// scope is the requested scope, already ⊆ client.Scopes; nil when the
	// request had no scope parameter.
	scope    []string
	clientIP netip.Addr
	now      time.Time
	// proof is the request's checked DPoP proof (RFC 9449), nil without.
	proof *dpop.Proof
}

// jkt is the thumbprint tokens of this request are bound to, "" for none.
func (r grantRequest) jkt() string {
	if r.proof == nil {
		return ""
	}
	return r.proof.JKT
}

// grantFunc implements one grant type.
type grantFunc func(ctx context.Context, req grantRequest) (tokenResponse, error)

// grant is one entry of Server.grants: the implementation, and what
// dispatch must check before calling it.
type grant struct {
	issue grantFunc
	// confidentialOnly: a public client (client_id alone, no secret) may
	// not use the grant, whatever it is registered for.
	confidentialOnly bool
}

// tokenResponse is the successful response of RFC 6749 §5.1.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token,omitempty"`
	// Scope is always sent: §5.1 makes it REQUIRED when it differs from the
	// request, and sending it always spares the client the comparison.
	Scope string `json:"scope,omitempty"`
}

// handleToken is the token endpoint (RFC 6749 §3.2). Every grant passes
// through the same steps, so none can skip client authentication or the
// grant and scope checks.
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) (err error) {
	if err := s.offerDPoPNonce(w); err != nil {
		return err
	}
	f, err := parseForm(w, r)
	if err != nil {
		return err
	}
	grantType, err := f.require("grant_type")
	if err != nil {
		return err
	}
	ctx := r.Context()
	g, ok := s.grants[grantType]
	if !ok {
		grantType = GrantOther
	}
	recordOf(ctx).setGrantType(grantType)
	ctx, span := s.startGrantSpan(ctx, grantType)
	defer func() { endGrantSpan(span, err) }()
	client, err := s.authenticateClient(ctx, r, f)
	if err != nil {
		return err
	}
	if span.IsRecording() {
		span.SetAttributes(attrClientID.String(client.ID))
	}
	// Unknown grant types first: unauthorized_client is only meaningful for
	// a grant the server implements (§5.2).
	if !ok {
		return newError(CodeUnsupportedGrantType, "unsupported grant_type", nil)
	}
	if g.confidentialOnly && client.Public() {
		// RFC 6749 §4.4 and §4.4.2: the client MUST authenticate. A public
		// client presented its client_id alone, which §5.2 names "no client
		// authentication included": invalid_client (401 with a Basic
		// challenge over the Authorization header), not unauthorized_client,
		// which §5.2 reserves for an authenticated client. It is judged
		// before the registration, so a public client registered for such a
		// grant (bypassing `client add`) gets the same answer.
		return errInvalidClient()
	}
	if !slices.Contains(client.Grants, grantType) {
		return newError(CodeUnauthorizedClient, "client is not allowed to use this grant_type", nil)
	}
	var scope []string
	if raw, ok := f["scope"]; ok {
		if scope, err = parseScope(raw); err != nil {
			return err
		}
		// §3.3: the server may not grant more than the client is allowed.
		if !subset(scope, client.Scopes) {
			return newError(CodeInvalidScope, "requested scope exceeds the client's scope", nil)
		}
	}
	// DPoP once here, for every grant, after the client is known (its
	// registration may require a proof) and the request is otherwise
	// acceptable, so refused requests record no proof.
	proof, err := s.checkDPoP(ctx, r, client)
	if err != nil {
		return err
	}
	resp, err := g.issue(ctx, grantRequest{
		form:     f,
		client:   client,
		scope:    scope,
		clientIP: s.clientIP(r),
		now:      s.now(),
		proof:    proof,
	})
	if err != nil {
		return err
	}
	return writeTokenResponse(w, resp)
}

// writeTokenResponse writes 200 with the token JSON. RFC 6749 §5.1: the
// response MUST carry Cache-Control: no-store and Pragma: no-cache.
func writeTokenResponse(w http.ResponseWriter, resp tokenResponse) error {
	body, err := json.Marshal(resp)
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	setNoStore(h)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
	return nil
}
