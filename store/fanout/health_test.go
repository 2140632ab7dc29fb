package fanout_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/tokenserver/tokenserver/store"
	"github.com/tokenserver/tokenserver/store/fanout"
)

// Health says when the feed was last healthy, from which monitoring
// computes staleness: its creation while it never was, the end of the last
// vouch once that lapsed, and now while it is healthy.
func TestHealthLastHealthyFromVouch(t *testing.T) {
	before := time.Now()
	f := fanout.New(nil, nil)
	t.Cleanup(f.Close)
	after := time.Now()
	healthy, last := f.Health()
	if healthy || last.Before(before) || last.After(after) {
		t.Fatalf("new feed: Health() = %v, %v; want false and its creation (between %v and %v)", healthy, last, before, after)
	}
	until := time.Now().Add(time.Hour)
	f.Vouch(until)
	if healthy, _ := f.Health(); !healthy {
		t.Fatal("not healthy while vouched for")
	}
	lapsed := time.Now().Add(-time.Second).Round(0)
	f.Vouch(lapsed)
	healthy, last = f.Health()
	if healthy || !last.Equal(lapsed) {
		t.Fatalf("after the vouch lapsed: Health() = %v, %v; want false, %v", healthy, last, lapsed)
	}
}

// scriptedFeed hands out one channel the test controls, then channels that
// stay silent until their subscription ends.
type scriptedFeed struct {
	store.RevocationFeed
	mu    sync.Mutex
	first chan store.FeedEvent
}

func (s *scriptedFeed) Subscribe(ctx context.Context) (<-chan store.FeedEvent, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.first != nil {
		ch := s.first
		s.first = nil
		return ch, nil
	}
	ch := make(chan store.FeedEvent)
	context.AfterFunc(ctx, func() { close(ch) })
	return ch, nil
}

// When the upstream subscription ends, the feed was last healthy then.
func TestHealthLastHealthyWhenUpstreamEnded(t *testing.T) {
	up := &scriptedFeed{first: make(chan store.FeedEvent, 1)}
	upstream := up.first
	f := fanout.New(up, nil)
	t.Cleanup(f.Close)
	sub, err := f.Subscribe(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	upstream <- store.FeedEvent{Resync: true}
	if ev := next(t, sub); !ev.Resync {
		t.Fatalf("first event %+v, want Resync", ev)
	}
	if healthy, _ := f.Health(); !healthy {
		t.Fatal("not healthy while the upstream is subscribed")
	}
	before := time.Now()
	close(upstream)
	deadline := time.Now().Add(10 * time.Second) // hang detector only
	for f.Healthy() {
		if time.Now().After(deadline) {
			t.Fatal("still healthy 10s after the upstream ended")
		}
		time.Sleep(time.Millisecond)
	}
	healthy, last := f.Health()
	if healthy || last.Before(before) || last.After(time.Now()) {
		t.Fatalf("Health() = %v, %v; want false and the moment the upstream ended (after %v)", healthy, last, before)
	}
}
