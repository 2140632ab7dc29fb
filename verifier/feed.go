package verifier

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tokenserver/tokenserver/store"
)

// DefaultFeedResyncInterval is how often a Feed reloads the snapshot.
const DefaultFeedResyncInterval = 30 * time.Second

// Feed is a Source reading a store.RevocationFeed (for example Redis
// pub/sub) plus a snapshot function (for example the Redis store's Active).
//
// A RevocationFeed has no heartbeat, so a silently broken subscription is
// invisible to it. Feed therefore reloads the snapshot every ResyncInterval:
// that both repairs revocations lost in a pub/sub blip and acts as the
// liveness probe (a failed reload ends the stream, so Push counts
// staleness and reconnects).
type Feed struct {
	feed     store.RevocationFeed
	snapshot func(context.Context) ([]store.Revocation, error)
	// ResyncInterval: zero means DefaultFeedResyncInterval; negative
	// disables periodic reloads (only Resync events trigger them).
	ResyncInterval time.Duration
}

// FeedSource returns a Source for feed. snapshot returns every active
// revocation; it is called on each Resync event and every ResyncInterval.
func FeedSource(feed store.RevocationFeed, snapshot func(ctx context.Context) ([]store.Revocation, error)) *Feed {
	return &Feed{feed: feed, snapshot: snapshot}
}

// Stream implements Source.
func (f *Feed) Stream(ctx context.Context, sink Sink) error {
	if f.feed == nil || f.snapshot == nil {
		return errors.New("verifier: feed: FeedSource needs a feed and a snapshot function")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // closes the subscription
	events, err := f.feed.Subscribe(ctx)
	if err != nil {
		return fmt.Errorf("verifier: feed: subscribe: %w", err)
	}
	interval := f.ResyncInterval
	if interval == 0 {
		interval = DefaultFeedResyncInterval
	}
	var tick <-chan time.Time
	if interval > 0 {
		t := time.NewTicker(interval)
		defer t.Stop()
		tick = t.C
	}
	load := func() error {
		rs, err := f.snapshot(ctx)
		if err != nil {
			return fmt.Errorf("verifier: feed: snapshot: %w", err)
		}
		sink.Snapshot(rs)
		return nil
	}
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return errors.New("verifier: feed: subscription closed")
			}
			switch {
			case ev.Resync:
				if err := load(); err != nil {
					return err
				}
			case ev.Revocation != nil:
				sink.Revoke(*ev.Revocation)
			}
		case <-tick:
			if err := load(); err != nil {
				return err
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
