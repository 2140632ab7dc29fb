package dpop

import (
	"container/heap"
	"context"
	"crypto/sha256"
	"fmt"
	"sync"
	"time"

	"github.com/tokenserver/tokenserver/store"
)

// DefaultReplayCapacity is NewMemoryReplayCache's bound when given none:
// about 20 MiB, enough for 4,000 proofs a second in a 60 s window.
const DefaultReplayCapacity = 1 << 18

// MemoryReplayCache is a store.ProofReplayCache for one process: bounded
// and expiring. Keys are kept as their SHA-256, so entries have a fixed
// size whatever jti clients choose. When full of live entries it refuses
// (store.ErrUnavailable) rather than forgetting one, which would let that
// proof be replayed.
type MemoryReplayCache struct {
	now func() time.Time
	max int

	mu      sync.Mutex
	entries map[[32]byte]time.Time
	byUntil untilHeap
}

// NewMemoryReplayCache returns a cache holding at most capacity entries
// (DefaultReplayCapacity when <= 0); now nil means time.Now.
func NewMemoryReplayCache(capacity int, now func() time.Time) *MemoryReplayCache {
	if capacity <= 0 {
		capacity = DefaultReplayCapacity
	}
	if now == nil {
		now = time.Now
	}
	return &MemoryReplayCache{now: now, max: capacity, entries: make(map[[32]byte]time.Time)}
}

// Seen implements store.ProofReplayCache.
func (c *MemoryReplayCache) Seen(ctx context.Context, key string, until time.Time) (bool, error) {
	if key == "" || len(key) > store.MaxProofKeyLen {
		return false, fmt.Errorf("dpop: replay cache: key of %d bytes, want 1 to %d", len(key), store.MaxProofKeyLen)
	}
	if err := ctx.Err(); err != nil {
		return false, fmt.Errorf("dpop: replay cache: %w", err)
	}
	sum := sha256.Sum256([]byte(key))
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	// Forget what has expired: the heap's root expires first.
	for len(c.byUntil) > 0 && !c.byUntil[0].until.After(now) {
		e := heap.Pop(&c.byUntil).(entry)
		delete(c.entries, e.key)
	}
	if _, ok := c.entries[sum]; ok {
		return true, nil
	}
	if !until.After(now) {
		return false, nil
	}
	if len(c.entries) >= c.max {
		return false, fmt.Errorf("dpop: replay cache full (%d live proofs): %w", c.max, store.ErrUnavailable)
	}
	c.entries[sum] = until
	heap.Push(&c.byUntil, entry{key: sum, until: until})
	return false, nil
}

// Len returns the number of entries held (expired ones may linger until the
// next Seen).
func (c *MemoryReplayCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

type entry struct {
	key   [32]byte
	until time.Time
}

// untilHeap is a min-heap of entries by until.
type untilHeap []entry

func (h untilHeap) Len() int           { return len(h) }
func (h untilHeap) Less(i, j int) bool { return h[i].until.Before(h[j].until) }
func (h untilHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *untilHeap) Push(x any)        { *h = append(*h, x.(entry)) }
func (h *untilHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}
