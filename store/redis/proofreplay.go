package redis

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/tokenserver/tokenserver/store"
)

// Seen implements store.ProofReplayCache with one SET NX PXAT: Redis checks
// and records in one step, so of two nodes receiving the same DPoP proof
// only one accepts it (RFC 9449 §11.1). The key is hashed: proof keys are
// client-chosen, and a fixed-length name bounds what a client can make us
// store.
func (s *Store) Seen(ctx context.Context, key string, until time.Time) (bool, error) {
	if key == "" || len(key) > store.MaxProofKeyLen {
		return false, fmt.Errorf("redis: dpop seen: key of %d bytes, want 1 to %d", len(key), store.MaxProofKeyLen)
	}
	if !until.After(time.Now()) {
		// Already expired: record nothing (SET with a past PXAT would
		// delete a live entry instead).
		return false, nil
	}
	sum := sha256.Sum256([]byte(key))
	name := s.prefix + "dpop:" + base64.RawURLEncoding.EncodeToString(sum[:])
	err := s.client.SetArgs(ctx, name, "1", goredis.SetArgs{Mode: "NX", ExpireAt: until}).Err()
	switch {
	case errors.Is(err, goredis.Nil):
		return true, nil
	case err != nil:
		return false, wrap("dpop seen", err)
	}
	return false, nil
}
