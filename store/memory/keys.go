package memory

import (
	"context"
	"fmt"
	"sort"

	"github.com/tokenserver/tokenserver/store"
)

// cloneKeys deep-copies a key set.
func cloneKeys(in []store.SigningKey) []store.SigningKey {
	if in == nil {
		return nil
	}
	out := make([]store.SigningKey, len(in))
	for i, k := range in {
		k.Sealed = cloneBytes(k.Sealed)
		k.PublicJWK = cloneBytes(k.PublicJWK)
		out[i] = k
	}
	return out
}

// Keys implements store.KeyStore.
func (s *Store) Keys(ctx context.Context) ([]store.SigningKey, error) {
	if err := live(ctx, "keys"); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return cloneKeys(s.keys), nil
}

// UpdateKeys implements store.KeyStore. Updates are serialised by their own
// mutex, so fn sees the latest set and may take its time without blocking
// the rest of the store; fn must not call UpdateKeys itself. Duplicate key
// IDs in fn's result are ErrConflict, as a primary key would make them.
func (s *Store) UpdateKeys(ctx context.Context, fn func([]store.SigningKey) ([]store.SigningKey, error)) error {
	if err := live(ctx, "update keys"); err != nil {
		return err
	}
	s.keysUpdate.Lock()
	defer s.keysUpdate.Unlock()

	s.mu.RLock()
	current := cloneKeys(s.keys)
	s.mu.RUnlock()

	next, err := fn(current)
	if err != nil {
		return fmt.Errorf("memory: update keys: %w", err)
	}
	next = cloneKeys(next)
	seen := make(map[string]bool, len(next))
	for _, k := range next {
		if seen[k.ID] {
			return fmt.Errorf("memory: update keys: duplicate id %q: %w", k.ID, store.ErrConflict)
		}
		seen[k.ID] = true
	}
	sort.SliceStable(next, func(i, j int) bool { return next[i].CreatedAt.Before(next[j].CreatedAt) })
	if err := live(ctx, "update keys"); err != nil {
		return err
	}

	s.mu.Lock()
	s.keys = next
	s.mu.Unlock()
	return nil
}
