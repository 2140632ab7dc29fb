package verifier

import (
	"context"

	"github.com/tokenserver/tokenserver/store"
)

// Source is a revocation feed Push listens to: SSESource (the token
// server's event stream) or FeedSource (a store.RevocationFeed such as Redis
// pub/sub). Other implementations may be plugged in.
type Source interface {
	// Stream connects and reports to sink until the connection fails or ctx
	// ends, then returns why (the context's error when ctx ended). It must
	// call sink.Snapshot with the full active set before trusting anything
	// else it reads, and again whenever it may have missed revocations. It
	// is responsible for noticing a silent dead connection (a missed
	// heartbeat) and returning. Push calls Stream again, with backoff.
	Stream(ctx context.Context, sink Sink) error
}

// Sink receives what a Source reads. Push implements it.
type Sink interface {
	// Snapshot merges the full set of active revocations and marks the
	// source connected and in sync.
	Snapshot(rs []store.Revocation)
	// Revoke adds one revocation.
	Revoke(r store.Revocation)
	// Heartbeat records that the connection is alive.
	Heartbeat()
}
