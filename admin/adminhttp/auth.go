package adminhttp

import (
	"errors"
	"net/http"
	"strings"

	"github.com/tokenserver/tokenserver/verifier"
)

// Scopes. ScopeAdmin grants every area; each area scope grants its own.
const (
	ScopeAdmin   = "admin"
	ScopeUsers   = "admin:users"
	ScopeClients = "admin:clients"
	ScopeKeys    = "admin:keys"
)

// Realm is the realm of the API's Bearer challenges.
const Realm = "tokenserver-admin"

// challenge builds a Bearer WWW-Authenticate value (RFC 6750 §3).
func challenge(code, description, scope string) string {
	c := `Bearer realm="` + Realm + `"`
	if code == "" {
		return c
	}
	c += `, error="` + code + `", error_description="` + description + `"`
	if scope != "" {
		c += `, scope="` + scope + `"`
	}
	return c
}

func unauthorized(code, description string) *problem {
	p := newProblem(http.StatusUnauthorized, TypeUnauthorized, "Unauthorized", description)
	if code == "" {
		p.Detail = "a bearer access token with an admin scope is required"
	}
	p.wwwAuthenticate = challenge(code, description, "")
	return p
}

// authorize checks the request's bearer token (RFC 6750 §2.1: the
// Authorization header only) with the verifier and requires an admin
// client's own token (client_credentials: no user, no session) carrying
// ScopeAdmin or the area's scope. A token issued to a user never
// authorizes, whatever its scope: a client registered for the password
// grant with the admin scope must not make every user an administrator.
// actor is the admin client's id.
func (h *handler) authorize(r *http.Request, area string) (actor string, err error) {
	values := r.Header.Values("Authorization")
	if len(values) == 0 {
		return "", unauthorized("", "")
	}
	if len(values) > 1 {
		p := newProblem(http.StatusBadRequest, TypeMalformed, "Malformed request", "repeated Authorization header")
		p.wwwAuthenticate = challenge("invalid_request", "The Authorization header is malformed", "")
		return "", p
	}
	scheme, token, _ := strings.Cut(values[0], " ")
	// RFC 6750 §3.1: a request without bearer credentials gets no error code.
	if !strings.EqualFold(scheme, "Bearer") {
		return "", unauthorized("", "")
	}
	token = strings.TrimLeft(token, " ")
	if token == "" {
		p := newProblem(http.StatusBadRequest, TypeMalformed, "Malformed request", "empty bearer token")
		p.wwwAuthenticate = challenge("invalid_request", "The Authorization header is malformed", "")
		return "", p
	}
	claims, err := h.verifier.Verify(r.Context(), token)
	switch {
	case errors.Is(err, verifier.ErrExpired):
		return "", unauthorized("invalid_token", "The access token expired")
	case errors.Is(err, verifier.ErrRevoked):
		return "", unauthorized("invalid_token", "The access token has been revoked")
	case errors.Is(err, verifier.ErrInvalidToken):
		return "", unauthorized("invalid_token", "The access token is invalid")
	case err != nil:
		// Revocation status unknown: fail closed (verifier.ErrRevocationUnavailable).
		p := newProblem(http.StatusServiceUnavailable, TypeUnavailable, "Temporarily unavailable",
			"the token's revocation status cannot be checked")
		p.retryAfter = 5e9
		return "", p
	}
	if claims.SID != "" || claims.Subject != claims.ClientID {
		p := newProblem(http.StatusForbidden, TypeForbidden, "Forbidden",
			"the admin API accepts only an admin client's own token (client_credentials), not a user's")
		p.wwwAuthenticate = challenge("insufficient_scope", "A client_credentials token is required", area)
		return "", p
	}
	if !claims.HasScope(ScopeAdmin) && !claims.HasScope(area) {
		p := newProblem(http.StatusForbidden, TypeForbidden, "Forbidden", "the access token lacks the scope "+area+" (or "+ScopeAdmin+")")
		p.wwwAuthenticate = challenge("insufficient_scope", "The access token lacks a required scope", area)
		return "", p
	}
	return claims.ClientID, nil
}
