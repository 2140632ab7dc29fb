package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/tokenserver/tokenserver/store"
)

// kidRevocationMargin is added to a kid revocation's lifetime for clock
// skew and for servers that reload their keys a little late.
const kidRevocationMargin = time.Minute

// revokeSigningKey revokes every access token signed by the key kid (a key
// an emergency rotation unpublished), so resource servers refuse them
// within moments through the revocation feed instead of when their cached
// JWKS expires: durably first, then in the cache (both through
// b.revocations), then on the feed. The entry outlives every token the key
// signed (the longest access-token lifetime) and every cached JWKS that
// still lists the key (jwksMaxAge), plus a margin.
func revokeSigningKey(ctx context.Context, b *backends, kid string, accessTTL, jwksMaxAge time.Duration, now time.Time, logger *slog.Logger) error {
	maxTTL, err := longestAccessTTL(ctx, b, accessTTL)
	if err != nil {
		return err
	}
	r := store.Revocation{
		Kind: store.RevokeKID, Value: kid,
		ExpiresAt: now.Add(max(maxTTL, jwksMaxAge) + kidRevocationMargin), CreatedAt: now,
	}
	if err := b.revocations.Revoke(ctx, r); err != nil {
		return fmt.Errorf("revoke key %s: %w", kid, err)
	}
	if err := b.feed.Publish(ctx, r); err != nil {
		// The durable record stands: servers and resource servers pick it
		// up when they next reload the full set (reconnect, resync).
		logger.Warn("kid revocation recorded but not published; resource servers learn of it when they next resynchronise",
			"kid", kid, "error", err)
	}
	return nil
}
