package memory

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/tokenserver/tokenserver/store"
)

var (
	_ store.UserPager     = (*Store)(nil)
	_ store.SessionLister = (*Store)(nil)
	_ store.ClientUpdater = (*Store)(nil)
)

// ListUsersPage implements store.UserPager.
func (s *Store) ListUsersPage(ctx context.Context, after, prefix string, limit int) ([]store.User, error) {
	if err := live(ctx, "list users page"); err != nil {
		return nil, err
	}
	if limit <= 0 {
		return nil, fmt.Errorf("memory: list users page: limit %d must be positive", limit)
	}
	afterKey, prefixKey := nameKey(after), nameKey(prefix)
	s.mu.RLock()
	var out []store.User
	for key, id := range s.userByName {
		if (after == "" || key > afterKey) && strings.HasPrefix(key, prefixKey) {
			out = append(out, s.users[id])
		}
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return nameKey(out[i].Username) < nameKey(out[j].Username) })
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// UserSessions implements store.SessionLister.
func (s *Store) UserSessions(ctx context.Context, userID string, at time.Time) ([]store.SessionInfo, error) {
	if err := live(ctx, "user sessions"); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	u, ok := s.users[userID]
	if !ok || u.Disabled {
		return nil, nil
	}
	var out []store.SessionInfo
	for id, f := range s.families {
		if f.UserID != userID || !f.RevokedAt.IsZero() || expired(f.ExpiresAt, at) || f.UserEpoch != u.CredentialEpoch {
			continue
		}
		var last time.Time
		usable := false
		for _, h := range s.familyTokens[id] {
			t := s.tokens[h]
			if t.IssuedAt.After(last) {
				last = t.IssuedAt
			}
			if t.ConsumedAt.IsZero() && !expired(t.IdleExpiresAt, at) {
				usable = true
			}
		}
		if !usable {
			continue
		}
		out = append(out, store.SessionInfo{ID: id, ClientID: f.ClientID, Scope: f.Scope,
			CreatedAt: f.CreatedAt, ExpiresAt: f.ExpiresAt, LastUsedAt: last})
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].CreatedAt.Equal(out[j].CreatedAt) {
			return out[i].CreatedAt.Before(out[j].CreatedAt)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// UpdateClient implements store.ClientUpdater: fn runs under the write
// lock, so concurrent updates of one client are serialised.
func (s *Store) UpdateClient(ctx context.Context, id string, fn func(store.Client) (store.Client, error)) (store.Client, error) {
	if err := live(ctx, "update client"); err != nil {
		return store.Client{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.clients[id]
	if !ok {
		return store.Client{}, fmt.Errorf("memory: update client: %w", store.ErrNotFound)
	}
	next, err := fn(cloneClient(c))
	if err != nil {
		return store.Client{}, fmt.Errorf("memory: update client: %w", err)
	}
	if next.AccessTokenTTL < 0 || next.RefreshIdleTTL < 0 || next.RefreshAbsoluteTTL < 0 {
		return store.Client{}, fmt.Errorf("memory: update client: negative lifetime")
	}
	next.ID, next.CreatedAt = c.ID, c.CreatedAt
	s.clients[id] = cloneClient(next)
	return cloneClient(next), nil
}
