package redis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/tokenserver/tokenserver/store"
	"github.com/tokenserver/tokenserver/store/feedwire"
)

// feedBuffer is how many events a slow subscriber may fall behind before the
// receive loop waits for it (Redis then buffers, up to its client output
// limit, after which it drops the connection and the subscriber resyncs).
const feedBuffer = 64

// Publish sends r on <prefix>revocations in the feed's wire format
// (store/feedwire), which Redis-mode resource servers read. Delivery is best effort:
// subscribers that miss it resync after reconnecting. Errors:
// store.ErrUnavailable.
func (s *Store) Publish(ctx context.Context, r store.Revocation) error {
	body, err := json.Marshal(feedwire.From(r))
	if err != nil {
		return fmt.Errorf("redis: publish: %w", err)
	}
	return wrap("publish", s.client.Publish(ctx, s.channel, body).Err())
}

// Subscribe subscribes to <prefix>revocations and returns once Redis has
// confirmed the subscription, so nothing published after it returns is
// missed. The channel carries a Resync event first, then one event per
// published revocation, and a Resync for every later subscription
// confirmation (each reconnect, and a message it could not decode). It is
// closed when ctx ends or the Store is closed. Errors: store.ErrUnavailable
// when the first subscription cannot be made.
func (s *Store) Subscribe(ctx context.Context) (<-chan store.FeedEvent, error) {
	sub := &subscription{store: s}
	if err := sub.open(ctx); err != nil {
		return nil, wrap("subscribe", err)
	}
	out := make(chan store.FeedEvent, feedBuffer)
	out <- store.FeedEvent{Resync: true}
	stop := context.AfterFunc(ctx, sub.close) // unblocks a pending Receive
	go func() {
		defer close(out)
		defer stop()
		defer sub.close()
		sub.run(ctx, out)
	}()
	return out, nil
}

// subscription is one Subscribe call's pub/sub connection.
type subscription struct {
	store *Store
	mu    sync.Mutex
	ps    *goredis.PubSub
}

// open subscribes on a new connection and waits for Redis's confirmation.
func (sub *subscription) open(ctx context.Context) error {
	ps := sub.store.client.Subscribe(ctx, sub.store.channel)
	for {
		msg, err := ps.ReceiveTimeout(ctx, sub.store.readTimeout)
		if err != nil {
			_ = ps.Close()
			return err
		}
		if m, ok := msg.(*goredis.Subscription); ok && m.Kind == "subscribe" {
			break
		}
	}
	sub.mu.Lock()
	old := sub.ps
	sub.ps = ps
	sub.mu.Unlock()
	if old != nil {
		_ = old.Close()
	}
	return nil
}

func (sub *subscription) current() *goredis.PubSub {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	return sub.ps
}

func (sub *subscription) close() {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	if sub.ps != nil {
		_ = sub.ps.Close()
	}
}

// run turns pub/sub traffic into events until ctx ends or the client is
// closed. go-redis re-dials and re-subscribes by itself after a read error;
// each new confirmation becomes a Resync. A connection that stays silent for
// feedPingInterval is PINGed, and one that does not answer within another
// interval (a peer gone without a FIN) is replaced, which resyncs as well.
func (sub *subscription) run(ctx context.Context, out chan<- store.FeedEvent) {
	const minBackoff, maxBackoff = 50 * time.Millisecond, 2 * time.Second
	backoff := minBackoff
	pinged := false
	send := func(ev store.FeedEvent) bool {
		select {
		case out <- ev:
			return true
		case <-ctx.Done():
			return false
		}
	}
	for ctx.Err() == nil {
		ps := sub.current()
		msg, err := ps.ReceiveTimeout(ctx, sub.store.feedPingInterval)
		if ctx.Err() != nil {
			return
		}
		var netErr net.Error
		switch {
		case err == nil:
		case errors.Is(err, goredis.ErrClosed):
			return // the Store was closed
		case errors.As(err, &netErr) && netErr.Timeout() && !pinged:
			pinged = true
			_ = ps.Ping(ctx)
			continue
		case errors.As(err, &netErr) && netErr.Timeout():
			pinged = false
			if err := sub.open(ctx); err != nil {
				if !sleep(ctx, backoff) {
					return
				}
				backoff = min(2*backoff, maxBackoff)
				continue
			}
			backoff = minBackoff
			if !send(store.FeedEvent{Resync: true}) {
				return
			}
			continue
		default:
			// The connection broke; the next Receive re-dials. Wait so a
			// server that is down is not hammered.
			if !sleep(ctx, backoff) {
				return
			}
			backoff = min(2*backoff, maxBackoff)
			continue
		}
		backoff, pinged = minBackoff, false
		switch m := msg.(type) {
		case *goredis.Subscription:
			if m.Kind == "subscribe" && !send(store.FeedEvent{Resync: true}) {
				return
			}
		case *goredis.Message:
			var w feedwire.Revocation
			err := json.Unmarshal([]byte(m.Payload), &w)
			r := w.Store()
			ev := store.FeedEvent{Revocation: &r}
			if err != nil || validRevocation(r) != nil {
				// Something was revoked that we cannot read: reload all.
				ev = store.FeedEvent{Resync: true}
			}
			if !send(ev) {
				return
			}
		}
	}
}

// sleep waits d or until ctx ends; it reports whether ctx is still live.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
