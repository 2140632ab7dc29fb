package tokenserver

import (
	"context"

	"github.com/tokenserver/tokenserver/audit"
	"github.com/tokenserver/tokenserver/store"
)

// clientCredentialsGrant is the client credentials grant (RFC 6749 §4.4):
// a confidential client gets an access token for itself. Dispatch has
// already authenticated the client (§4.4.2 MUST), refused public clients
// (grant.confidentialOnly), checked the registration and narrowed the scope
// to the client's; nothing here reads a store.
//
// The token is the RFC 9068 JWT of the other grants, with `sub` the client
// id (RFC 9068 §2.2: for a grant with no resource owner, sub identifies the
// client), no `sid` (there is no session) and no `username`. No refresh
// token is issued (§4.4.3: one SHOULD NOT be included); the client asks
// again with its credentials.
func (s *Server) clientCredentialsGrant(ctx context.Context, req grantRequest) (tokenResponse, error) {
	if UserIDShaped(req.client.ID) {
		// A user's `sub` revocation (set-password, disable, revoke-sessions)
		// names the user's UUID; a client id of that form could be denied
		// by it, or be mistaken for a user by a resource server (RFC 9068
		// §5 asks that client ids and resource owners' subjects not be
		// confused). `client add` refuses such ids for this grant; this
		// catches a registration made around it.
		return tokenResponse{}, newError(CodeUnauthorizedClient,
			"a client whose id has the form of a user id cannot use client_credentials", nil)
	}
	// §3.3: without a scope parameter the client gets its registered scope.
	scope := req.scope
	if scope == nil {
		scope = req.client.Scopes
	}
	// No user, so no roles or attributes, whatever the registration says.
	access, err := s.issueAccessToken(ctx, req, session{userID: req.client.ID, scope: scope})
	if err != nil {
		return tokenResponse{}, err
	}
	s.emit(ctx, audit.Event{Type: audit.ClientCredentialsIssued, ClientID: req.client.ID, ClientIP: ipString(req.clientIP)})
	return tokenResponse{
		AccessToken: access.token,
		TokenType:   access.tokenType,
		ExpiresIn:   expiresIn(access.ttl),
		Scope:       joinScope(scope),
	}, nil
}

// UserIDShaped reports whether id has the form of a user id: a UUID in the
// canonical 8-4-4-4-12 hexadecimal form, in either case (user ids are
// UUIDs, stored in PostgreSQL's uuid type, so this is the only form a
// user's `sub` takes). Clients whose tokens carry their id as `sub`
// (client_credentials) must not have such an id, so that a `sub`
// revocation of a user can never match a client's tokens.
func UserIDShaped(id string) bool { return store.IsUUID(id) }
