package sessions

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/tokenserver/tokenserver/audit"
	"github.com/tokenserver/tokenserver/store"
)

// Config configures a Service.
type Config struct {
	Users   store.UserStore
	Refresh store.RefreshTokenStore
	// Revocations records revocations: durable first, then any cache
	// (store/tiered in production, the memory store embedded).
	Revocations store.RevocationStore
	// Feed publishes each revocation to subscribers. Optional.
	Feed store.RevocationFeed
	// Lifetimes tells how long access tokens can live, whoever issued them,
	// so a revocation outlives every token it must deny. Optional: without
	// it AccessTokenTTL alone sizes revocations.
	Lifetimes store.TokenLifetimes
	// AccessTokenTTL is the lifetime this process knows of (the server's
	// flag); revocations last at least this long. Required.
	AccessTokenTTL time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger; default discards.
	Logger *slog.Logger
	// Audit receives session.revoked and token.revoked events. Nil means
	// none.
	Audit audit.Sink
}

// Service revokes and changes credentials. It is safe for concurrent use.
type Service struct {
	cfg    Config
	now    func() time.Time
	logger *slog.Logger
	audit  audit.Sink
}

// New validates cfg and returns a Service.
func New(cfg Config) (*Service, error) {
	var errs []error
	if cfg.Users == nil {
		errs = append(errs, errors.New("Users: required"))
	}
	if cfg.Refresh == nil {
		errs = append(errs, errors.New("Refresh: required"))
	}
	if cfg.Revocations == nil {
		errs = append(errs, errors.New("Revocations: required"))
	}
	if cfg.AccessTokenTTL <= 0 {
		errs = append(errs, fmt.Errorf("AccessTokenTTL: must be positive, got %v", cfg.AccessTokenTTL))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("sessions: config: %w", err)
	}
	s := &Service{cfg: cfg, now: cfg.Now, logger: cfg.Logger, audit: audit.OrDiscard(cfg.Audit)}
	if s.now == nil {
		s.now = time.Now
	}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	return s, nil
}

// Now returns the service's clock reading.
func (s *Service) Now() time.Time { return s.now() }

// LongestAccessTTL is how long a revocation made now must last to outlive
// every access token it may deny: the longest of atLeast, the configured
// lifetime and every lifetime the store knows of (servers' records, clients'
// own). Errors: the store's.
func (s *Service) LongestAccessTTL(ctx context.Context, atLeast time.Duration) (time.Duration, error) {
	longest := max(atLeast, s.cfg.AccessTokenTTL)
	if s.cfg.Lifetimes == nil {
		return longest, nil
	}
	stored, err := s.cfg.Lifetimes.LongestAccessTTL(ctx, s.now())
	if err != nil {
		return 0, fmt.Errorf("sessions: token lifetimes: %w", err)
	}
	return max(longest, stored), nil
}

// record writes rev durably (then to the cache, through Revocations) and
// publishes it. The durable write decides success; a failed publish is
// logged only, because every running server's Relay delivers the change
// from the durable log.
func (s *Service) record(ctx context.Context, rev store.Revocation) error {
	if err := s.cfg.Revocations.Revoke(ctx, rev); err != nil {
		return fmt.Errorf("sessions: record %s revocation: %w", rev.Kind, err)
	}
	if s.cfg.Feed == nil {
		return nil
	}
	if err := s.cfg.Feed.Publish(ctx, rev); err != nil {
		s.logger.WarnContext(ctx, "sessions: publishing a revocation failed; the relay delivers it from the durable log",
			"kind", rev.Kind, "error", err)
	}
	return nil
}
