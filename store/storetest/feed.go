package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tokenserver/tokenserver/store"
)

// suiteReceive waits up to suiteWait for the next event on ch.
func suiteReceive(t *testing.T, ch <-chan store.FeedEvent, what string) store.FeedEvent {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatalf("%s: channel closed", what)
		}
		return ev
	case <-time.After(suiteWait):
		t.Fatalf("%s: nothing received within %v", what, suiteWait)
	}
	panic("unreachable")
}

// suiteSubscribe subscribes and consumes the initial Resync, after which the
// subscription is established and receives every Publish.
func suiteSubscribe(t *testing.T, f store.RevocationFeed, ctx context.Context) <-chan store.FeedEvent {
	t.Helper()
	ch, err := f.Subscribe(ctx)
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	if ev := suiteReceive(t, ch, "first event"); !ev.Resync || ev.Revocation != nil {
		t.Fatalf("first event = %+v, want a Resync", ev)
	}
	return ch
}

// suiteExpectRevocation fails unless ev carries want.
func suiteExpectRevocation(t *testing.T, ev store.FeedEvent, want store.Revocation, what string) {
	t.Helper()
	if ev.Resync || ev.Revocation == nil {
		t.Fatalf("%s: event = %+v, want a revocation", what, ev)
	}
	if d := suiteRevocationDiff(*ev.Revocation, want); d != "" {
		t.Errorf("%s: %s", what, d)
	}
	if !ev.Revocation.CreatedAt.Equal(want.CreatedAt) {
		t.Errorf("%s: CreatedAt = %v, want %v", what, ev.Revocation.CreatedAt, want.CreatedAt)
	}
}

// TestRevocationFeed runs the conformance suite for store.RevocationFeed.
// newFeed must return a fresh feed for each call (a backend with a shared
// server isolates them, e.g. by a key prefix).
func TestRevocationFeed(t *testing.T, newFeed func(*testing.T) store.RevocationFeed) {
	t.Run("ResyncFirst", func(t *testing.T) {
		f := newFeed(t)
		suiteSubscribe(t, f, t.Context())
	})

	t.Run("PublishWithoutSubscribers", func(t *testing.T) {
		f := newFeed(t)
		if err := f.Publish(t.Context(), suiteRevocation(store.RevokeJTI, "jti-1", suiteNow())); err != nil {
			t.Fatalf("Publish: %v", err)
		}
	})

	t.Run("DeliveredToEverySubscriber", func(t *testing.T) {
		f := newFeed(t)
		first := suiteSubscribe(t, f, t.Context())
		second := suiteSubscribe(t, f, t.Context())
		r := suiteRevocation(store.RevokeSub, "sub-1", suiteNow())
		r.NotBefore = r.CreatedAt.Truncate(time.Second)
		if err := f.Publish(t.Context(), r); err != nil {
			t.Fatalf("Publish: %v", err)
		}
		suiteExpectRevocation(t, suiteReceive(t, first, "first subscriber"), r, "first subscriber")
		suiteExpectRevocation(t, suiteReceive(t, second, "second subscriber"), r, "second subscriber")
	})

	t.Run("DeliveredInOrder", func(t *testing.T) {
		f := newFeed(t)
		ch := suiteSubscribe(t, f, t.Context())
		var sent []store.Revocation
		for i := range 10 {
			r := suiteRevocation(store.RevokeJTI, fmt.Sprintf("jti-%d", i), suiteNow())
			if err := f.Publish(t.Context(), r); err != nil {
				t.Fatalf("Publish %d: %v", i, err)
			}
			sent = append(sent, r)
		}
		for i, r := range sent {
			suiteExpectRevocation(t, suiteReceive(t, ch, "event"), r, fmt.Sprintf("event %d", i))
		}
	})

	t.Run("ClosedWhenContextEnds", func(t *testing.T) {
		f := newFeed(t)
		ctx, cancel := context.WithCancel(t.Context())
		ch := suiteSubscribe(t, f, ctx)
		other := suiteSubscribe(t, f, t.Context())
		cancel()
		deadline := time.After(suiteWait)
		for closed := false; !closed; {
			select {
			case _, ok := <-ch:
				closed = !ok
			case <-deadline:
				t.Fatalf("channel not closed within %v of cancelling", suiteWait)
			}
		}
		// The remaining subscriber is unaffected.
		r := suiteRevocation(store.RevokeJTI, "jti-1", suiteNow())
		if err := f.Publish(t.Context(), r); err != nil {
			t.Fatalf("Publish: %v", err)
		}
		suiteExpectRevocation(t, suiteReceive(t, other, "remaining subscriber"), r, "remaining subscriber")
	})
}
