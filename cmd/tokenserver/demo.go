package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/tokenserver/tokenserver/store"
	"github.com/tokenserver/tokenserver/tokenserver"
	"github.com/tokenserver/tokenserver/tokenserver/password"
)

// demoScopes are the demo client's scopes.
var demoScopes = []string{"read", "write"}

// seedDemo creates the demo client and user of the embedded default and
// prints how to use them. Only the in-memory store gets them: they vanish
// with the process.
func seedDemo(ctx context.Context, e env, b *backends, h *password.Hasher, cfg *serveConfig, now time.Time) error {
	username, pw, _ := strings.Cut(cfg.demoUser, ":")
	clientID, secret, _ := strings.Cut(cfg.demoClient, ":")
	if username == "" || pw == "" || clientID == "" || secret == "" {
		return fmt.Errorf("--demo-user and --demo-client need a non-empty name and secret on each side of the colon")
	}
	// Stored normalized like every user (see normalizeUsername), or the
	// password grant, which normalizes, would not find a non-ASCII name.
	username, err := normalizeUsername(username)
	if err != nil {
		return fmt.Errorf("--demo-user: %w", err)
	}
	if err := b.clients.CreateClient(ctx, store.Client{
		ID:         clientID,
		SecretHash: tokenserver.HashClientSecret(secret),
		Grants:     []string{"password", "refresh_token"},
		Scopes:     demoScopes,
		CreatedAt:  now,
	}); err != nil {
		return fmt.Errorf("demo client: %w", err)
	}
	hash, err := h.Hash(ctx, pw)
	if err != nil {
		return fmt.Errorf("demo user: %w", err)
	}
	if err := b.users.CreateUser(ctx, store.User{
		ID: newUUID(), Username: username, PasswordHash: hash,
		CreatedAt: now, UpdatedAt: now, PasswordChangedAt: now,
	}); err != nil {
		return fmt.Errorf("demo user: %w", err)
	}
	issuer := strings.TrimSuffix(cfg.issuer, "/")
	fmt.Fprintf(e.stdout, `tokenserver is running on the embedded in-memory store (demo mode: nothing survives a restart).
  demo client: %s / %s  (grants password, refresh_token; scopes read, write)
  demo user:   %s / %s
Try:
  curl -s -u '%s:%s' -d grant_type=password -d username='%s' -d password='%s' -d scope=read %s/token
`, clientID, secret, username, pw, clientID, secret, username, pw, issuer)
	return nil
}
