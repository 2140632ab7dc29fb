package admin

import (
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/tokenserver/tokenserver/audit"
	"github.com/tokenserver/tokenserver/keys"
	"github.com/tokenserver/tokenserver/sessions"
	"github.com/tokenserver/tokenserver/store"
	"github.com/tokenserver/tokenserver/tokenserver/password"
)

// Sentinel errors of the admin service; compare with errors.Is.
var (
	// ErrNotFound: no such user, client or session.
	ErrNotFound = fmt.Errorf("admin: not found: %w", store.ErrNotFound)
	// ErrExists: a user with that username, or a client with that ID,
	// exists already.
	ErrExists = fmt.Errorf("admin: exists: %w", store.ErrConflict)
	// ErrState: the operation is not possible in the current state (a
	// planned key rotation before the next key may activate).
	ErrState = errors.New("admin: not possible now")
	// ErrUnsupported: the configured stores cannot do this (a store
	// without the optional capability).
	ErrUnsupported = errors.New("admin: not supported by the configured store")
)

// ValidationError refuses one field of a request. Nothing was changed.
type ValidationError struct {
	// Field is the request field's JSON name (e.g. "username", "grants").
	Field  string
	Detail string
}

func (e *ValidationError) Error() string {
	return fmt.Sprintf("admin: invalid %s: %s", e.Field, e.Detail)
}

func invalid(field, format string, args ...any) error {
	return &ValidationError{Field: field, Detail: fmt.Sprintf(format, args...)}
}

// Config configures a Service.
type Config struct {
	Users   store.UserStore
	Clients store.ClientStore
	Refresh store.RefreshTokenStore
	// Sessions changes credentials and revokes. Required.
	Sessions *sessions.Service
	// Hasher hashes new passwords. Required for user creation and
	// password changes.
	Hasher *password.Hasher
	// CheckPassword applies the password policy to a new password before
	// it is hashed; its error is reported as invalid "password". Nil means
	// only the hasher's own rules (not empty, at most 1 KiB).
	// TODO(user model branch): wire tokenserver/password.Policy here.
	CheckPassword func(string) error
	// KeyManager, when set, is the running server's manager: rotations go
	// through it, so this process signs with the new key at once.
	KeyManager *keys.Manager
	// Keys configures a manager for key operations when KeyManager is nil
	// (the CLI). Its Store nil means key operations are unsupported.
	Keys keys.Config
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Audit receives an admin.<action> event per completed change. Nil
	// means none.
	Audit audit.Sink
	// Actor names who acts when the context does not (WithActor); default
	// audit.ActorCLI.
	Actor string
}

// Service implements the administration rules. Safe for concurrent use.
type Service struct {
	cfg   Config
	now   func() time.Time
	audit audit.Sink
}

// New returns a Service.
func New(cfg Config) (*Service, error) {
	var errs []error
	if cfg.Users == nil {
		errs = append(errs, errors.New("Users: required"))
	}
	if cfg.Clients == nil {
		errs = append(errs, errors.New("Clients: required"))
	}
	if cfg.Refresh == nil {
		errs = append(errs, errors.New("Refresh: required"))
	}
	if cfg.Sessions == nil {
		errs = append(errs, errors.New("Sessions: required"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("admin: config: %w", err)
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	return &Service{cfg: cfg, now: now, audit: audit.OrDiscard(cfg.Audit)}, nil
}

// notFound maps a store's ErrNotFound to ErrNotFound naming what, and
// wraps anything else.
func notFound(op, what string, err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: %s", ErrNotFound, what)
	}
	return fmt.Errorf("admin: %s: %w", op, err)
}

// newUUID returns a random (version 4) UUID: user IDs.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
