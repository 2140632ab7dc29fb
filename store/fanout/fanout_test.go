package fanout_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokenserver/tokenserver/store"
	"github.com/tokenserver/tokenserver/store/fanout"
	"github.com/tokenserver/tokenserver/store/memory"
	"github.com/tokenserver/tokenserver/store/storetest"
)

// The shared feed is itself a RevocationFeed: it passes the same suite.
func TestConformance(t *testing.T) {
	storetest.TestRevocationFeed(t, func(t *testing.T) store.RevocationFeed {
		f := fanout.New(memory.New(nil), nil)
		t.Cleanup(f.Close)
		return f
	})
}

// countingFeed counts upstream subscriptions.
type countingFeed struct {
	store.RevocationFeed
	subscribes atomic.Int32
}

func (c *countingFeed) Subscribe(ctx context.Context) (<-chan store.FeedEvent, error) {
	c.subscribes.Add(1)
	return c.RevocationFeed.Subscribe(ctx)
}

func next(t *testing.T, ch <-chan store.FeedEvent) store.FeedEvent {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatal("channel closed")
		}
		return ev
	case <-time.After(2 * time.Second):
		t.Fatal("no event within 2s")
	}
	return store.FeedEvent{}
}

func TestOneUpstreamSubscription(t *testing.T) {
	up := &countingFeed{RevocationFeed: memory.New(nil)}
	f := fanout.New(up, nil)
	defer f.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var chans []<-chan store.FeedEvent
	for range 20 {
		ch, err := f.Subscribe(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !next(t, ch).Resync {
			t.Fatal("first event is not a Resync")
		}
		chans = append(chans, ch)
	}
	if n := up.subscribes.Load(); n != 1 {
		t.Fatalf("upstream subscriptions = %d, want 1", n)
	}
	r := store.Revocation{Kind: store.RevokeJTI, Value: "j1", ExpiresAt: time.Now().Add(time.Minute)}
	if err := f.Publish(ctx, r); err != nil {
		t.Fatal(err)
	}
	for _, ch := range chans {
		if ev := next(t, ch); ev.Revocation == nil || ev.Revocation.Value != "j1" {
			t.Fatalf("got %+v, want the revocation", ev)
		}
	}
}

func TestSlowSubscriberIsDropped(t *testing.T) {
	f := fanout.New(memory.New(nil), nil)
	defer f.Close()
	ctx := context.Background()
	slow, _ := f.Subscribe(ctx)
	fast, _ := f.Subscribe(ctx)
	next(t, fast)
	// The fast subscriber reads every batch; the slow one reads nothing.
	for batch := range 11 {
		for i := range 100 {
			r := store.Revocation{Kind: store.RevokeJTI, Value: string(rune('a'+batch)) + string(rune('a'+i%26)), ExpiresAt: time.Now().Add(time.Minute)}
			if err := f.Publish(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		for range 100 {
			if ev := next(t, fast); ev.Revocation == nil {
				t.Fatalf("fast subscriber got %+v", ev)
			}
		}
	}
	// The slow one was dropped: its channel ends after what it buffered.
	n := 0
	for range slow {
		n++
	}
	if n == 0 || n > 1024 {
		t.Fatalf("slow subscriber received %d events before being dropped", n)
	}
}

func TestClose(t *testing.T) {
	f := fanout.New(memory.New(nil), nil)
	ch, _ := f.Subscribe(context.Background())
	f.Close()
	for range ch {
	}
	if _, err := f.Subscribe(context.Background()); err == nil {
		t.Fatal("Subscribe after Close succeeded")
	}
}

// Without an upstream the feed is local: healthy only while vouched for,
// a new subscriber is told to resync only then, Publish and Deliver reach
// every subscriber, and becoming healthy again tells subscribers to resync
// (events may have been missed while nobody vouched).
func TestLocalFeedHealthAndDelivery(t *testing.T) {
	f := fanout.New(nil, nil)
	t.Cleanup(f.Close)
	if f.Healthy() {
		t.Fatal("healthy before anything vouched for it")
	}
	ch, err := f.Subscribe(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-ch:
		t.Fatalf("event %+v before the feed was healthy", ev)
	default:
	}
	f.Vouch(time.Now().Add(time.Hour))
	if !f.Healthy() {
		t.Fatal("not healthy while vouched for")
	}
	if ev := next(t, ch); !ev.Resync {
		t.Fatalf("event %+v on becoming healthy, want Resync", ev)
	}
	late, _ := f.Subscribe(t.Context())
	if ev := next(t, late); !ev.Resync {
		t.Fatalf("a subscriber of a healthy feed got %+v first, want Resync", ev)
	}
	r := store.Revocation{Kind: store.RevokeJTI, Value: "j", ExpiresAt: time.Now().Add(time.Hour)}
	if err := f.Publish(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	f.Deliver(r)
	for _, c := range []<-chan store.FeedEvent{ch, late} {
		for range 2 {
			if ev := next(t, c); ev.Revocation == nil || ev.Revocation.Value != "j" {
				t.Fatalf("event %+v, want the revocation", ev)
			}
		}
	}
	f.Vouch(time.Now().Add(-time.Second)) // the vouch lapsed
	if f.Healthy() {
		t.Error("healthy after the vouch lapsed")
	}
}
