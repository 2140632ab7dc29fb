package tokenserver

import (
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokenserver/tokenserver/store"
)

// healthFeed is the memory feed with a switchable store.FeedHealth that
// counts how often it was asked (once per ping tick).
type healthFeed struct {
	store.RevocationFeed
	healthy atomic.Bool
	asked   atomic.Int64
}

func (f *healthFeed) Healthy() bool {
	f.asked.Add(1)
	return f.healthy.Load()
}

// A feed that cannot vouch for its events gets no heartbeats on the
// stream, so subscribers count staleness and fail closed; heartbeats
// resume once it is healthy again. Revocations still pass through.
func TestRevocationStreamNoHeartbeatWhileFeedUnhealthy(t *testing.T) {
	var feed *healthFeed
	h := newHarness(t, func(h *harness, c *Config) {
		feed = &healthFeed{RevocationFeed: h.mem}
		c.Feed = feed
		c.PingInterval = 5 * time.Millisecond
	})
	ts := h.startServer()
	resp, events := openStream(t, ts, mobileID, mobileSecret)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if first := <-events; first.name != "snapshot" {
		t.Fatalf("first event %q, want snapshot", first.name)
	}
	// Let several ping ticks pass while unhealthy (counted, not timed).
	for start := feed.asked.Load(); feed.asked.Load() < start+3; {
		time.Sleep(time.Millisecond)
	}
	tok := h.login("")
	h.revokeAs(webID, webSecret, tok.AccessToken)
	select {
	case ev := <-events:
		if ev.name != "revoke" {
			t.Fatalf("event %q while the feed is unhealthy, want the revocation and no ping", ev.name)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the revocation did not arrive")
	}
	feed.healthy.Store(true)
	nextEvent(t, events, "ping", 10*time.Second)
}

// The stream asks the feed before every heartbeat, and a feed without
// store.FeedHealth is taken at its word (the memory feed).
func TestFeedHealthOptional(t *testing.T) {
	h := newHarness(t)
	if !h.srv.feedHealthy() {
		t.Error("a feed without FeedHealth counts as unhealthy")
	}
	h.srv.cfg.Feed = &healthFeed{RevocationFeed: h.mem}
	if h.srv.feedHealthy() {
		t.Error("an unhealthy feed counts as healthy")
	}
}
