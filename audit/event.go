package audit

import (
	"context"
	"strings"
	"time"
)

// SchemaVersion is the version of the event schema written in every line's
// "schema" field. Adding an optional field or an event type keeps it;
// renaming or removing a field, or changing a field's meaning, bumps it.
const SchemaVersion = 1

// Type is an event's type, the "type" field.
type Type string

// The event types of schema version 1 (README "Audit events").
const (
	LoginSucceeded          Type = "login.succeeded"
	LoginFailed             Type = "login.failed"
	LoginThrottled          Type = "login.throttled"
	TokenRefreshed          Type = "token.refreshed"
	RefreshReuseDetected    Type = "refresh.reuse_detected"
	TokenRevoked            Type = "token.revoked"
	SessionRevoked          Type = "session.revoked"
	ClientAuthFailed        Type = "client.auth_failed"
	ClientCredentialsIssued Type = "client_credentials.issued"
	KeyRotated              Type = "key.rotated"
)

// adminPrefix starts the type of every admin action: "admin." + Action.
const adminPrefix = "admin."

// AdminType is the type of an admin action's event: "admin.<action>".
func AdminType(action string) Type { return Type(adminPrefix + action) }

// IsAdmin reports whether t is an admin action's type.
func (t Type) IsAdmin() bool {
	return strings.HasPrefix(string(t), adminPrefix) && len(t) > len(adminPrefix)
}

// Login failure reasons (Event.Reason of LoginFailed). Without
// --audit-reasons every one of them is reported as InvalidCredentials (see
// LoginReason).
const (
	ReasonInvalidCredentials = "invalid_credentials"
	ReasonUnknownUser        = "unknown_user"
	ReasonWrongPassword      = "wrong_password"
	ReasonDisabled           = "disabled"
	// ReasonCredentialsChanged: the password was changed, or the user
	// disabled or deleted, while the login checked the old credentials.
	ReasonCredentialsChanged = "credentials_changed"
)

// LoginReasons returns every reason LoginFailed may carry.
func LoginReasons() []string {
	return []string{ReasonInvalidCredentials, ReasonUnknownUser, ReasonWrongPassword,
		ReasonDisabled, ReasonCredentialsChanged}
}

// Client authentication failure reasons (Event.Reason of ClientAuthFailed).
const (
	// ReasonNoCredentials: the request named no client at all.
	ReasonNoCredentials = "no_credentials"
	// ReasonUnsupportedScheme: an Authorization header other than Basic.
	ReasonUnsupportedScheme = "unsupported_scheme"
	ReasonUnknownClient     = "unknown_client"
	ReasonMissingSecret     = "missing_secret"
	ReasonBadSecret         = "bad_secret"
	// ReasonUnexpectedSecret: a public client presented a secret.
	ReasonUnexpectedSecret = "unexpected_secret"
	// ReasonPublicClient: a public client called an endpoint for
	// confidential clients only (introspection, the revocation feed).
	ReasonPublicClient = "public_client"
)

// Throttle limits (Event.Limit of LoginThrottled).
const (
	LimitUser = "user" // failures per (username, client IP)
	LimitIP   = "ip"   // failures per client IP
)

// Limits returns every limit LoginThrottled may carry.
func Limits() []string { return []string{LimitUser, LimitIP} }

// Token kinds (Event.Kind of TokenRevoked).
const (
	KindAccess  = "access"  // one access token (jti), at /revoke
	KindRefresh = "refresh" // a refresh token and its session, at /revoke
	KindSession = "session" // one session, by an administrator
	KindUser    = "user"    // every token of a user issued until now
	KindKID     = "kid"     // every token signed by a key
)

// TokenKinds returns every kind TokenRevoked may carry.
func TokenKinds() []string { return []string{KindAccess, KindRefresh, KindSession, KindUser, KindKID} }

// Cause says why a session ended (Event.Cause of SessionRevoked).
type Cause string

const (
	// CauseReuse: a rotated refresh token was presented again (RFC 9700
	// §4.14.2).
	CauseReuse Cause = "reuse"
	// CauseRevoke: the client revoked its refresh token (RFC 7009).
	CauseRevoke Cause = "revoke"
	// CauseAdmin: an administrator ended the session (or deleted the user).
	CauseAdmin Cause = "admin"
	// CauseCredentialChange: the user's password changed or the user was
	// disabled.
	CauseCredentialChange Cause = "credential_change"
)

// Causes returns every cause SessionRevoked may carry.
func Causes() []Cause { return []Cause{CauseReuse, CauseRevoke, CauseAdmin, CauseCredentialChange} }

// ActorCLI is the actor of admin actions run from the command line.
const ActorCLI = "cli"

// Admin actions (Event.Action; the type is AdminType(action)).
const (
	ActionUserCreate         = "user.create"
	ActionUserUpdate         = "user.update"
	ActionUserSetPassword    = "user.set_password"
	ActionUserDisable        = "user.disable"
	ActionUserEnable         = "user.enable"
	ActionUserDelete         = "user.delete"
	ActionUserEndSessions    = "user.end_sessions"
	ActionSessionRevoke      = "session.revoke"
	ActionClientCreate       = "client.create"
	ActionClientUpdate       = "client.update"
	ActionClientRotateSecret = "client.rotate_secret"
	ActionClientDelete       = "client.delete"
	ActionKeysRotate         = "keys.rotate"
)

// Event is one audit event. Only the fields its type documents are set; the
// writer omits the rest. No field ever holds a secret, password, token or
// username.
type Event struct {
	Type Type
	// Time is when it happened; zero means when it is written.
	Time time.Time
	// ClientID is the authenticated client (or, for ClientAuthFailed, an
	// existing client's id).
	ClientID string
	// Subject is the user id (never a username).
	Subject  string
	ClientIP string
	// FamilyID is the refresh-token family: the session id (`sid`).
	FamilyID string
	// Reason of LoginFailed and ClientAuthFailed.
	Reason string
	// Kind of TokenRevoked.
	Kind string
	// Cause of SessionRevoked.
	Cause Cause
	// Limit of LoginThrottled.
	Limit string
	// Actor, Action and Target of admin actions: who (the admin client's id,
	// or ActorCLI), what, and the id acted on.
	Actor  string
	Action string
	Target string
	// KID of KeyRotated (the new signing key) and of a TokenRevoked of kind
	// kid.
	KID string
	// Emergency of KeyRotated: the previous key was unpublished at once.
	Emergency bool
}

// Sink receives audit events. Emit must be cheap, safe for concurrent use
// and never fail the caller's operation: the fact already happened.
type Sink interface {
	Emit(ctx context.Context, e Event)
}

// Sinks fans one event out to every sink in order; nil entries are skipped.
type Sinks []Sink

// Emit implements Sink.
func (s Sinks) Emit(ctx context.Context, e Event) {
	for _, sink := range s {
		if sink != nil {
			sink.Emit(ctx, e)
		}
	}
}

// Discard is a Sink that drops every event: what a nil Sink means.
type Discard struct{}

// Emit implements Sink.
func (Discard) Emit(context.Context, Event) {}

// OrDiscard returns s, or Discard when s is nil, so callers emit without a
// nil check.
func OrDiscard(s Sink) Sink {
	if s == nil {
		return Discard{}
	}
	return s
}
