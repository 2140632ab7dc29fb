package redis

import (
	"encoding/json"
	"time"

	"github.com/tokenserver/tokenserver/store"
)

// entry is how a denylist entry is stored under <prefix>rev:<kind>:<value>.
// It is this package's persistence format; it happens to spell its fields
// as the feed's wire format (store/feedwire) does, so entries written by
// earlier versions read back unchanged.
type entry struct {
	Kind      string    `json:"kind"`
	Value     string    `json:"value"`
	NotBefore time.Time `json:"not_before,omitzero"`
	ExpiresAt time.Time `json:"expires_at"`
	CreatedAt time.Time `json:"created_at"`
}

// encodeEntry serialises r for storage.
func encodeEntry(r store.Revocation) ([]byte, error) {
	return json.Marshal(entry{Kind: string(r.Kind), Value: r.Value, NotBefore: r.NotBefore,
		ExpiresAt: r.ExpiresAt, CreatedAt: r.CreatedAt})
}

// decodeEntry reads a stored entry.
func decodeEntry(body []byte) (store.Revocation, error) {
	var e entry
	if err := json.Unmarshal(body, &e); err != nil {
		return store.Revocation{}, err
	}
	return store.Revocation{Kind: store.RevocationKind(e.Kind), Value: e.Value, NotBefore: e.NotBefore,
		ExpiresAt: e.ExpiresAt, CreatedAt: e.CreatedAt}, nil
}
