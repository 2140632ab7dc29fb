package sessions_test

import (
	"context"
	"testing"
	"time"

	"github.com/tokenserver/tokenserver/sessions"
	"github.com/tokenserver/tokenserver/store/memory"
)

// countingCache records each Reseed on a channel and lets the test ask for
// one, as store/tiered does after a lost or missed cache write.
type countingCache struct {
	reseeds chan struct{}
	needed  chan struct{}
}

func (c *countingCache) Reseed(context.Context, time.Time) error {
	c.reseeds <- struct{}{}
	return nil
}
func (c *countingCache) ReseedNeeded() <-chan struct{}    { return c.needed }
func (c *countingCache) CheckCache(context.Context) error { return nil }

// RunReseed reseeds when the feed (re)connects, whose first event is a
// Resync, and again as soon as the cache asks for it.
func TestRunReseedOnResyncAndRequest(t *testing.T) {
	cache := &countingCache{reseeds: make(chan struct{}), needed: make(chan struct{}, 1)}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		sessions.RunReseed(ctx, sessions.ReseedConfig{Cache: cache, Feed: memory.New(nil)})
	}()
	t.Cleanup(func() { cancel(); <-done })
	wait := func(what string) {
		t.Helper()
		select {
		case <-cache.reseeds:
		case <-time.After(30 * time.Second): // a hang detector
			t.Fatalf("no reseed %s", what)
		}
	}
	wait("on the feed's first Resync")
	cache.needed <- struct{}{}
	wait("when the cache asked for one")
}
