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
	synced bool
	// vouchedUntil: a local source (the relay following the durable log)
	// has delivered every committed revocation and vouches for the feed
	// until then, upstream or not. See Vouch.
	vouchedUntil time.Time
	// unsyncedAt is when the upstream subscription last ended; created is
	// when the feed was made. Health reports staleness from them.
	unsyncedAt time.Time
	created    time.Time
	now        func() time.Time
	started    bool
	ctx        context.Context
	cancel     context.CancelFunc
	done       chan struct{}
}

var _ store.RevocationFeed = (*Feed)(nil)

type subscriber struct {
	ch chan store.FeedEvent
}

// New returns a Feed sharing one subscription to up. up may be nil: the
// feed is then local only, fed by Deliver and kept healthy by Vouch.
// logger may be nil.
func New(up store.RevocationFeed, logger *slog.Logger) *Feed {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Feed{up: up, logger: logger, subs: map[*subscriber]struct{}{}, ctx: ctx, cancel: cancel,
		done: make(chan struct{}), now: time.Now, created: time.Now()}
}

var _ store.FeedHealth = (*Feed)(nil)

// Healthy reports whether the feed currently delivers every revocation:
// the upstream subscription is established, or a local source vouches for
// it (Vouch). The revocation stream sends heartbeats only while it is.
func (f *Feed) Healthy() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.healthyLocked()
}

func (f *Feed) healthyLocked() bool {
	return f.synced || f.now().Before(f.vouchedUntil)
}

// Health reports whether the feed is healthy now and when it last was: now
// when it is; otherwise the later of when the last vouch ran out and when
// the upstream subscription ended; the feed's creation if it never was
// healthy. Monitoring derives the feed's staleness from it.
func (f *Feed) Health() (healthy bool, last time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	if f.healthyLocked() {
		return true, now
	}
	last = f.vouchedUntil
	if f.unsyncedAt.After(last) {
		last = f.unsyncedAt
	}
	if last.IsZero() {
		last = f.created
	}
	return false, last
}

// Deliver hands r, read from another source than the upstream (the
// durable log), to every current subscriber, exactly as an upstream event.
// Subscribers merge revocations, so one that arrives twice costs nothing.
func (f *Feed) Deliver(r store.Revocation) {
	f.broadcast(store.FeedEvent{Revocation: &r})
}

// Vouch records that a local source has delivered every revocation
// committed so far and will keep doing so until `until`: the feed is
// healthy until then even without its upstream. If the feed was not
// healthy, every subscriber is told to resync first, since events may have
// been missed while nobody vouched.
func (f *Feed) Vouch(until time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	wasHealthy := f.healthyLocked()
	f.vouchedUntil = until
	if !wasHealthy {
		f.broadcastLocked(store.FeedEvent{Resync: true})
	}
}

// Publish publishes upstream; without an upstream it delivers to the
// local subscribers.
func (f *Feed) Publish(ctx context.Context, r store.Revocation) error {
	if f.up == nil {
		f.Deliver(r)
		return nil
	}
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
	if f.healthyLocked() {
		s.ch <- store.FeedEvent{Resync: true}
	}
	if !f.started && f.up != nil {
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
	f.broadcastLocked(ev)
}

func (f *Feed) broadcastLocked(ev store.FeedEvent) {
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
			if ev.Resync {
				f.mu.Lock()
				f.synced = true
				f.mu.Unlock()
			}
			f.broadcast(ev)
		}
		// The upstream ended: until it is back, new subscribers wait for
		// its Resync rather than get one for a subscription that is gone.
		f.mu.Lock()
		if f.synced {
			f.unsyncedAt = f.now()
		}
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
