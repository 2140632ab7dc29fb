package memory

import (
	"context"
	"fmt"
	"sort"

	"github.com/tokenserver/tokenserver/store"
)

// cloneClient deep-copies c's slices.
func cloneClient(c store.Client) store.Client {
	c.Grants = cloneStrings(c.Grants)
	c.Scopes = cloneStrings(c.Scopes)
	c.Audience = cloneStrings(c.Audience)
	c.TokenAttributes = cloneStrings(c.TokenAttributes)
	return c
}

// CreateClient implements store.ClientStore.
func (s *Store) CreateClient(ctx context.Context, c store.Client) error {
	if err := live(ctx, "create client"); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.clients[c.ID]; ok {
		return fmt.Errorf("memory: create client: %w", store.ErrConflict)
	}
	s.clients[c.ID] = cloneClient(c)
	return nil
}

// ClientByID implements store.ClientStore.
func (s *Store) ClientByID(ctx context.Context, id string) (store.Client, error) {
	if err := live(ctx, "client by id"); err != nil {
		return store.Client{}, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	c, ok := s.clients[id]
	if !ok {
		return store.Client{}, fmt.Errorf("memory: client by id: %w", store.ErrNotFound)
	}
	return cloneClient(c), nil
}

// ListClients implements store.ClientStore.
func (s *Store) ListClients(ctx context.Context) ([]store.Client, error) {
	if err := live(ctx, "list clients"); err != nil {
		return nil, err
	}
	s.mu.RLock()
	out := make([]store.Client, 0, len(s.clients))
	for _, c := range s.clients {
		out = append(out, cloneClient(c))
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// DeleteClient implements store.ClientStore: the client and its
// refresh-token families go in one critical section.
func (s *Store) DeleteClient(ctx context.Context, id string) error {
	if err := live(ctx, "delete client"); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.clients[id]; !ok {
		return fmt.Errorf("memory: delete client: %w", store.ErrNotFound)
	}
	for fid, f := range s.families {
		if f.ClientID == id {
			s.deleteFamilyLocked(fid)
		}
	}
	delete(s.clients, id)
	return nil
}
