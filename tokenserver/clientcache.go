package tokenserver

import (
	"context"
	"sync"
	"time"

	"github.com/tokenserver/tokenserver/store"
)

// maxCachedClients bounds the client cache. Only registered clients are
// ever cached (an unknown client_id is not), so only a deployment with more
// clients active within one TTL than this reaches it.
const maxCachedClients = 10_000

// clientCache keeps successful ClientStore.ClientByID results for a short
// time, so that client authentication on /token, /revoke, /introspect and
// /revocations costs no database round trip. A registration change (a
// deleted client) takes effect within the TTL.
//
// It caches the registration only; the presented secret is still compared
// in constant time against the cached hash on every request. Unknown
// clients and store errors are never cached: an attacker cycling client_ids
// cannot fill it, and an outage is not remembered. Cached Clients are
// shared between requests and never modified.
type clientCache struct {
	store store.ClientStore
	// ttl <= 0 disables caching.
	ttl time.Duration
	max int
	now func() time.Time

	mu      sync.RWMutex
	entries map[string]cachedClient
}

type cachedClient struct {
	client store.Client
	// expires: the entry is served strictly before this instant.
	expires time.Time
}

func newClientCache(cs store.ClientStore, ttl time.Duration, now func() time.Time) *clientCache {
	return &clientCache{store: cs, ttl: ttl, max: maxCachedClients, now: now,
		entries: make(map[string]cachedClient)}
}

// ClientByID returns the registration of id from the cache or the store,
// with the store's errors (ErrNotFound, ErrUnavailable, …) unchanged.
func (c *clientCache) ClientByID(ctx context.Context, id string) (store.Client, error) {
	if c.ttl <= 0 {
		return c.store.ClientByID(ctx, id)
	}
	now := c.now()
	c.mu.RLock()
	e, ok := c.entries[id]
	c.mu.RUnlock()
	if ok && now.Before(e.expires) {
		return e.client, nil
	}
	client, err := c.store.ClientByID(ctx, id)
	if err != nil {
		if ok {
			// Known before, but gone or unreachable now.
			c.forget(id)
		}
		return store.Client{}, err
	}
	c.put(id, client, now.Add(c.ttl))
	return client, nil
}

// put stores one entry. When the cache is full it starts over rather than
// grow: dropping every entry costs one store round trip per active client,
// and it happens at most once per max insertions.
func (c *clientCache) put(id string, client store.Client, expires time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, present := c.entries[id]; !present && len(c.entries) >= c.max {
		clear(c.entries)
	}
	c.entries[id] = cachedClient{client: client, expires: expires}
}

// forget drops id's entry, for a caller that learned the registration is
// gone before the entry expired.
func (c *clientCache) forget(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.entries, id)
}
