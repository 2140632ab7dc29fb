package memory

import (
	"context"

	"github.com/tokenserver/tokenserver/store"
)

// maxPendingEvents bounds each subscriber's queue. A subscriber that falls
// this far behind loses its queued events and gets one Resync instead, so a
// slow reader costs bounded memory and never blocks Publish.
const maxPendingEvents = 1024

// subscriber is one Subscribe call: Publish appends to pending under s.mu and
// pokes wake; the subscriber's own goroutine forwards to its channel.
type subscriber struct {
	pending []store.FeedEvent
	wake    chan struct{} // capacity 1: "pending changed"
}

// Publish implements store.RevocationFeed by in-process fan-out. It never
// blocks on a subscriber.
func (s *Store) Publish(ctx context.Context, r store.Revocation) error {
	if err := live(ctx, "publish"); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for sub := range s.subscribers {
		if len(sub.pending) >= maxPendingEvents {
			// Resync supersedes everything queued: the reader reloads the
			// full set after it sees it, which covers the dropped events.
			sub.pending = append(sub.pending[:0], store.FeedEvent{Resync: true})
		} else {
			rc := r // each subscriber gets its own copy
			sub.pending = append(sub.pending, store.FeedEvent{Revocation: &rc})
		}
		select {
		case sub.wake <- struct{}{}:
		default: // already poked
		}
	}
	return nil
}

// Subscribe implements store.RevocationFeed. The first event is a Resync;
// the channel is closed when ctx ends. An in-process feed never reconnects,
// so later Resyncs only follow an overflow.
func (s *Store) Subscribe(ctx context.Context) (<-chan store.FeedEvent, error) {
	if err := live(ctx, "subscribe"); err != nil {
		return nil, err
	}
	sub := &subscriber{
		pending: []store.FeedEvent{{Resync: true}},
		wake:    make(chan struct{}, 1),
	}
	s.mu.Lock()
	s.subscribers[sub] = struct{}{}
	s.mu.Unlock()
	out := make(chan store.FeedEvent)
	go s.forward(ctx, sub, out)
	return out, nil
}

// forward delivers sub's queue to out until ctx ends, then unsubscribes and
// closes out.
func (s *Store) forward(ctx context.Context, sub *subscriber, out chan<- store.FeedEvent) {
	defer close(out)
	defer func() {
		s.mu.Lock()
		delete(s.subscribers, sub)
		s.mu.Unlock()
	}()
	for {
		ev, ok := s.popEvent(sub)
		if !ok {
			select {
			case <-ctx.Done():
				return
			case <-sub.wake:
				continue
			}
		}
		select {
		case <-ctx.Done():
			return
		case out <- ev:
		}
	}
}

// popEvent takes the oldest queued event of sub, if any.
func (s *Store) popEvent(sub *subscriber) (store.FeedEvent, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(sub.pending) == 0 {
		return store.FeedEvent{}, false
	}
	ev := sub.pending[0]
	sub.pending[0] = store.FeedEvent{}
	sub.pending = sub.pending[1:]
	if len(sub.pending) == 0 {
		sub.pending = nil // let the backing array go
	}
	return ev, true
}
