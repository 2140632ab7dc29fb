// Package fanout shares one upstream revocation-feed subscription among many
// subscribers. The token server's revocation stream has one subscriber per
// connected resource server; without sharing, each would hold its own Redis
// pub/sub connection, and after a Redis reconnect every one of them would
// reload the snapshot at the same moment.
//
// This package imports only the standard library and store.
package fanout

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/tokenserver/tokenserver/store"
)

// queueSize is how many events a subscriber may fall behind before it is
// dropped (its channel closed, so it reconnects and resyncs).
const queueSize = 1024

// Feed is a store.RevocationFeed over one shared upstream subscription,
// started with the first Subscribe and kept until Close.
type Feed struct {
	up     store.RevocationFeed
	logger *slog.Logger

	mu   sync.Mutex
	subs map[*subscriber]struct{}
	// synced: the upstream subscription is established, so a new
	// subscriber can be told to resync at once.
	synced  bool
	started bool
	ctx     context.Context
	cancel  context.CancelFunc
	done    chan struct{}
}

var _ store.RevocationFeed = (*Feed)(nil)

type subscriber struct {
	ch chan store.FeedEvent
}

// New returns a Feed sharing one subscription to up. logger may be nil.
func New(up store.RevocationFeed, logger *slog.Logger) *Feed {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Feed{up: up, logger: logger, subs: map[*subscriber]struct{}{}, ctx: ctx, cancel: cancel, done: make(chan struct{})}
}

// Publish publishes upstream.
func (f *Feed) Publish(ctx context.Context, r store.Revocation) error {
	return f.up.Publish(ctx, r)
}

// Subscribe follows the store.RevocationFeed contract: a Resync first (at
// once when the shared subscription is up, otherwise when it comes up),
// every revocation after that, and a Resync after each upstream reconnect.
// The channel is closed when ctx ends, when the subscriber falls more than
// queueSize events behind, or when the Feed is closed.
func (f *Feed) Subscribe(ctx context.Context) (<-chan store.FeedEvent, error) {
	s := &subscriber{ch: make(chan store.FeedEvent, queueSize)}
	f.mu.Lock()
	if f.ctx.Err() != nil {
		f.mu.Unlock()
		return nil, store.ErrUnavailable
	}
	f.subs[s] = struct{}{}
	if f.synced {
		s.ch <- store.FeedEvent{Resync: true}
	}
	if !f.started {
		f.started = true
		go f.run()
	}
	f.mu.Unlock()
	context.AfterFunc(ctx, func() { f.remove(s) })
	return s.ch, nil
}

// remove unsubscribes s and closes its channel, once.
func (f *Feed) remove(s *subscriber) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.subs[s]; ok {
		delete(f.subs, s)
		close(s.ch)
	}
}

// broadcast delivers ev to every subscriber without blocking; one that is
// queueSize events behind is dropped and will resync when it reconnects.
func (f *Feed) broadcast(ev store.FeedEvent) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if ev.Resync {
		f.synced = true
	}
	for s := range f.subs {
		select {
		case s.ch <- ev:
		default:
			delete(f.subs, s)
			close(s.ch)
			f.logger.Warn("fanout: dropped a subscriber that fell behind")
		}
	}
}

// run keeps the upstream subscription open until Close, reconnecting with
// backoff.
func (f *Feed) run() {
	defer close(f.done)
	backoff := 100 * time.Millisecond
	for f.ctx.Err() == nil {
		events, err := f.up.Subscribe(f.ctx)
		if err != nil {
			f.logger.Warn("fanout: upstream subscribe failed; retrying", "err", err, "in", backoff)
			f.sleep(backoff)
			backoff = min(2*backoff, 10*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		for ev := range events {
			f.broadcast(ev)
		}
		// The upstream ended: until it is back, new subscribers wait for
		// its Resync rather than get one for a subscription that is gone.
		f.mu.Lock()
		f.synced = false
		f.mu.Unlock()
	}
}

func (f *Feed) sleep(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-f.ctx.Done():
	case <-t.C:
	}
}

// Close ends the upstream subscription and closes every subscriber's
// channel. Later Subscribe calls fail with store.ErrUnavailable.
func (f *Feed) Close() {
	f.mu.Lock()
	f.cancel()
	started := f.started
	for s := range f.subs {
		delete(f.subs, s)
		close(s.ch)
	}
	f.mu.Unlock()
	if started {
		<-f.done
	}
}
