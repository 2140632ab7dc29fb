package admin

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tokenserver/tokenserver/audit"
	"github.com/tokenserver/tokenserver/store"
	"github.com/tokenserver/tokenserver/tokenserver"
)

// MinClientSecret is the shortest client secret accepted from an operator.
// Client secrets are stored as SHA-256 (tokenserver.HashClientSecret: they
// are machine secrets, not human passwords), which is only safe for
// high-entropy secrets.
const MinClientSecret = 32

// MaxSecretOverlap bounds a secret rotation's overlap window.
const MaxSecretOverlap = 30 * 24 * time.Hour

// SupportedGrants returns the grant types a client may be registered for.
func SupportedGrants() []string {
	return []string{"password", "refresh_token", "client_credentials"}
}

// ClientSettings are a client's changeable settings.
type ClientSettings struct {
	Grants   []string
	Scopes   []string
	Audience []string
	// Lifetimes; zero means the server default.
	AccessTokenTTL     time.Duration
	RefreshIdleTTL     time.Duration
	RefreshAbsoluteTTL time.Duration
	// RequireDPoP refuses token requests without a DPoP proof (RFC 9449).
	RequireDPoP bool
}

// NewClient is a client registration.
type NewClient struct {
	ID string
	// Public clients authenticate with their ID alone.
	Public bool
	// Secret, for a confidential client, is the operator's secret (at least
	// MinClientSecret characters); empty means generate one.
	Secret string
	ClientSettings
	// TokenRoles and TokenAttributes choose which of the user's profile the
	// client's access tokens carry (store.Client); set at registration.
	TokenRoles      bool
	TokenAttributes []string
}

// ValidateClient applies the token endpoint's rules to a registration, so
// that nothing is stored that the server would refuse later. Front ends may
// call it before opening any store; CreateClient and UpdateClient call it.
func ValidateClient(id string, public bool, c ClientSettings) error {
	if err := validClientID(id); err != nil {
		return err
	}
	return validateSettings(id, public, c)
}

// validateSettings checks the settings of client id.
func validateSettings(id string, public bool, c ClientSettings) error {
	for _, g := range c.Grants {
		if !slices.Contains(SupportedGrants(), g) {
			return invalid("grants", "unsupported grant type %q (supported: %s)", g, strings.Join(SupportedGrants(), ", "))
		}
	}
	if slices.Contains(c.Grants, "client_credentials") {
		// RFC 6749 §4.4: only confidential clients may use it.
		if public {
			return invalid("grants", "client_credentials needs a confidential client")
		}
		// Its tokens' sub is the client id; user ids are UUIDs, so a user's
		// sub revocation could deny them (the server refuses it too).
		if tokenserver.UserIDShaped(id) {
			return invalid("id", "%q has the form of a user id (a UUID); a client_credentials client needs another", id)
		}
	}
	for _, sc := range c.Scopes {
		// The token endpoint's rule: a scope it could never grant is refused here.
		if !tokenserver.ValidScopeToken(sc) {
			return invalid("scopes", "invalid scope %q (RFC 6749 §3.3: printable ASCII, no space, quote or backslash)", sc)
		}
	}
	for _, a := range c.Audience {
		if strings.TrimSpace(a) == "" || a != strings.TrimSpace(a) {
			return invalid("audience", "empty or padded audience %q", a)
		}
	}
	for field, d := range map[string]time.Duration{"access_token_ttl": c.AccessTokenTTL,
		"refresh_idle_ttl": c.RefreshIdleTTL, "refresh_absolute_ttl": c.RefreshAbsoluteTTL} {
		if d < 0 {
			return invalid(field, "must not be negative")
		}
	}
	return nil
}

func validClientID(id string) error {
	if id == "" || id != strings.TrimSpace(id) || !printable(id) {
		return invalid("id", "%q: must be non-empty printable text without surrounding spaces", id)
	}
	return nil
}

func printable(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == 0xfffd {
			return false
		}
	}
	return true
}

// GenerateClientSecret returns a new 256-bit secret, base64url.
func GenerateClientSecret() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// CreateClient registers a client. For a confidential client it returns the
// secret in plain text (generated unless given): shown once, never stored.
func (s *Service) CreateClient(ctx context.Context, in NewClient) (store.Client, string, error) {
	if err := ValidateClient(in.ID, in.Public, in.ClientSettings); err != nil {
		return store.Client{}, "", err
	}
	secret, hash := "", ""
	switch {
	case in.Public && in.Secret != "":
		return store.Client{}, "", invalid("secret", "a public client has no secret")
	case in.Public:
	case in.Secret != "":
		if len(in.Secret) < MinClientSecret {
			return store.Client{}, "", invalid("secret", "too short: at least %d characters of random data", MinClientSecret)
		}
		secret, hash = in.Secret, tokenserver.HashClientSecret(in.Secret)
	default:
		secret = GenerateClientSecret()
		hash = tokenserver.HashClientSecret(secret)
	}
	if err := tokenserver.CheckTokenAttributes(in.TokenAttributes); err != nil {
		return store.Client{}, "", invalid("token_attributes", "%v", err)
	}
	c := store.Client{ID: in.ID, SecretHash: hash, CreatedAt: s.now().UTC(),
		TokenRoles: in.TokenRoles, TokenAttributes: slices.Clone(in.TokenAttributes)}
	c = applySettings(c, in.ClientSettings)
	err := s.cfg.Clients.CreateClient(ctx, c)
	if errors.Is(err, store.ErrConflict) {
		return store.Client{}, "", fmt.Errorf("%w: client %q", ErrExists, in.ID)
	}
	if err != nil {
		return store.Client{}, "", fmt.Errorf("admin: create client: %w", err)
	}
	s.audited(ctx, audit.ActionClientCreate, c.ID)
	return c, secret, nil
}

func applySettings(c store.Client, in ClientSettings) store.Client {
	c.Grants = slices.Clone(in.Grants)
	c.Scopes = slices.Clone(in.Scopes)
	c.Audience = slices.Clone(in.Audience)
	c.AccessTokenTTL, c.RefreshIdleTTL, c.RefreshAbsoluteTTL = in.AccessTokenTTL, in.RefreshIdleTTL, in.RefreshAbsoluteTTL
	c.RequireDPoP = in.RequireDPoP
	return c
}

// Client returns a registration.
func (s *Service) Client(ctx context.Context, id string) (store.Client, error) {
	c, err := s.cfg.Clients.ClientByID(ctx, id)
	if err != nil {
		return store.Client{}, notFound("get client", "client "+id, err)
	}
	return c, nil
}

// ListClients returns every client ordered by ID.
func (s *Service) ListClients(ctx context.Context) ([]store.Client, error) {
	cs, err := s.cfg.Clients.ListClients(ctx)
	return cs, wrapErr("list clients", err)
}

// DeleteClient removes a client and its sessions.
func (s *Service) DeleteClient(ctx context.Context, id string) error {
	if err := s.cfg.Clients.DeleteClient(ctx, id); err != nil {
		return notFound("delete client", "client "+id, err)
	}
	s.audited(ctx, audit.ActionClientDelete, id)
	return nil
}

func (s *Service) updater() (store.ClientUpdater, error) {
	u, ok := s.cfg.Clients.(store.ClientUpdater)
	if !ok {
		return nil, fmt.Errorf("admin: update client: %w", ErrUnsupported)
	}
	return u, nil
}

// UpdateClient replaces a client's settings (grants, scopes, audience,
// lifetimes), validated like a new registration. Running servers see the
// change within their client cache's lifetime.
func (s *Service) UpdateClient(ctx context.Context, id string, in ClientSettings) (store.Client, error) {
	up, err := s.updater()
	if err != nil {
		return store.Client{}, err
	}
	c, err := up.UpdateClient(ctx, id, func(c store.Client) (store.Client, error) {
		if err := validateSettings(id, c.Public(), in); err != nil {
			return store.Client{}, err
		}
		return applySettings(c, in), nil
	})
	if err != nil {
		var ve *ValidationError
		if errors.As(err, &ve) {
			return store.Client{}, ve
		}
		return store.Client{}, notFound("update client", "client "+id, err)
	}
	s.audited(ctx, audit.ActionClientUpdate, id)
	return c, nil
}

// RotateClientSecret gives a confidential client a new generated secret and
// keeps the current one valid for overlap (zero: the old secret stops
// working at once), so deployments can move without downtime. A rotation
// during another's window drops the older secret. It returns the client
// and the new secret (shown once).
func (s *Service) RotateClientSecret(ctx context.Context, id string, overlap time.Duration) (store.Client, string, error) {
	if overlap < 0 || overlap > MaxSecretOverlap {
		return store.Client{}, "", invalid("overlap", "must be between 0 and %s", MaxSecretOverlap)
	}
	up, err := s.updater()
	if err != nil {
		return store.Client{}, "", err
	}
	secret := GenerateClientSecret()
	now := s.now().UTC()
	c, err := up.UpdateClient(ctx, id, func(c store.Client) (store.Client, error) {
		if c.Public() {
			return store.Client{}, invalid("id", "client %q is public: it has no secret to rotate", id)
		}
		c.PreviousSecretHash, c.PreviousSecretExpiresAt = "", time.Time{}
		if overlap > 0 {
			c.PreviousSecretHash, c.PreviousSecretExpiresAt = c.SecretHash, now.Add(overlap)
		}
		c.SecretHash = tokenserver.HashClientSecret(secret)
		return c, nil
	})
	if err != nil {
		var ve *ValidationError
		if errors.As(err, &ve) {
			return store.Client{}, "", ve
		}
		return store.Client{}, "", notFound("rotate client secret", "client "+id, err)
	}
	s.audited(ctx, audit.ActionClientRotateSecret, id)
	return c, secret, nil
}
