// Package feedwire is the wire format of the revocation feed: the JSON that
// the token server's GET /revocations and GET /revocations/stream send, that
// Redis pub/sub carries, and that resource servers (package verifier, or any
// other language) read. It is kept apart from store.Revocation, the
// persistence type, so that neither can change the other by accident: a
// field renamed in the store must not silently change what every deployed
// resource server parses.
//
// This package imports only the standard library and store.
package feedwire

import (
	"time"

	"github.com/tokenserver/tokenserver/store"
)

// Server-sent event names of GET /revocations/stream.
const (
	// EventSnapshot carries a Snapshot: the whole denylist. It comes first,
	// and again whenever the server's feed may have missed events.
	EventSnapshot = "snapshot"
	// EventRevoke carries one Revocation.
	EventRevoke = "revoke"
	// EventPing carries a Ping: the server vouches that nothing was missed.
	// It is sent only while the server's feed is healthy.
	EventPing = "ping"
)

// Revocation is one denylist entry on the wire.
type Revocation struct {
	// Kind is "jti", "sid", "sub" or "kid"; consumers ignore kinds they do
	// not know.
	Kind  string `json:"kind"`
	Value string `json:"value"`
	// NotBefore, for "sub" only: tokens with iat <= not_before (in whole
	// seconds) are revoked.
	NotBefore time.Time `json:"not_before,omitzero"`
	// ExpiresAt is when the entry may be forgotten.
	ExpiresAt time.Time `json:"expires_at"`
	CreatedAt time.Time `json:"created_at"`
}

// Snapshot is the body of GET /revocations and the data of a snapshot event.
type Snapshot struct {
	Revocations []Revocation `json:"revocations"`
}

// Ping is the data of a ping event.
type Ping struct {
	Time string `json:"time"`
}

// From converts a stored entry to the wire.
func From(r store.Revocation) Revocation {
	return Revocation{Kind: string(r.Kind), Value: r.Value, NotBefore: r.NotBefore, ExpiresAt: r.ExpiresAt, CreatedAt: r.CreatedAt}
}

// Store converts a wire entry to the store's type.
func (r Revocation) Store() store.Revocation {
	return store.Revocation{Kind: store.RevocationKind(r.Kind), Value: r.Value, NotBefore: r.NotBefore,
		ExpiresAt: r.ExpiresAt, CreatedAt: r.CreatedAt}
}

// SnapshotOf converts a list of stored entries to a Snapshot; an empty list
// is [] on the wire, never null.
func SnapshotOf(rs []store.Revocation) Snapshot {
	out := make([]Revocation, len(rs))
	for i, r := range rs {
		out[i] = From(r)
	}
	return Snapshot{Revocations: out}
}

// Store converts a snapshot to the store's type.
func (s Snapshot) Store() []store.Revocation {
	out := make([]store.Revocation, len(s.Revocations))
	for i, r := range s.Revocations {
		out[i] = r.Store()
	}
	return out
}
