package tokenserver

import (
	"context"
	"net/http"
	"net/netip"

	"github.com/tokenserver/tokenserver/audit"
	"github.com/tokenserver/tokenserver/store"
)

// emit sends an audit event stamped with the server's clock. Events say
// what happened; they never carry a secret, password, token or username.
func (s *Server) emit(ctx context.Context, e audit.Event) {
	if e.Time.IsZero() {
		e.Time = s.now()
	}
	s.audit.Emit(ctx, e)
}

// ipString is the client IP for an event; empty when unknown.
func ipString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// loginFailure says why checkPassword refused, for login.failed. subject
// is the user id when the username named a user.
type loginFailure struct {
	reason  string
	subject string
}

// emitLoginFailed reports a bad-credentials failure. Without
// Config.AuditReasons every failure looks the same (invalid_credentials, no
// subject), as it does to the client: whoever reads the audit log cannot
// tell which usernames exist. With it, the operator sees the reason and
// the user id.
func (s *Server) emitLoginFailed(ctx context.Context, req grantRequest, f loginFailure) {
	e := audit.Event{Type: audit.LoginFailed, ClientID: req.client.ID, ClientIP: ipString(req.clientIP),
		Reason: audit.ReasonInvalidCredentials}
	if s.cfg.AuditReasons {
		e.Reason, e.Subject = f.reason, f.subject
	}
	s.emit(ctx, e)
}

// emitClientAuthFailed reports a client authentication failure
// (invalid_client). The client id is what the caller claimed: it is
// included only when it names a registered client (known is that client),
// never as given, because an unauthenticated caller chooses it freely; it
// could be a mistyped secret, a username pasted into the wrong field, or
// junk meant to fill the log, and it must not reach the metrics' client
// label either.
func (s *Server) emitClientAuthFailed(ctx context.Context, r *http.Request, reason string, known *store.Client) {
	e := audit.Event{Type: audit.ClientAuthFailed, ClientIP: ipString(s.clientIP(r)), Reason: reason}
	if known != nil {
		e.ClientID = known.ID
	}
	s.emit(ctx, e)
}
