package tiered

import (
	"testing"
	"time"

	"github.com/tokenserver/tokenserver/store"
	"github.com/tokenserver/tokenserver/store/memory"
)

// A change the relay could not write to the cache (Missed) makes the
// denylist answer from the durable record and asks for a reseed; a
// successful reseed makes the cache trusted again.
func TestMissedCacheWriteFallsBackAndRequestsReseed(t *testing.T) {
	durable, cache := memory.New(nil), memory.New(nil)
	revs := NewRevocations(durable, cache, nil)
	now := time.Now()
	if err := revs.Reseed(t.Context(), now); err != nil {
		t.Fatal(err)
	}
	// Written elsewhere (the CLI), to the durable record only; the relay's
	// copy into the cache failed.
	r := store.Revocation{Kind: store.RevokeJTI, Value: "j", ExpiresAt: now.Add(time.Hour), CreatedAt: now}
	if err := durable.Revoke(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	revs.Missed()
	select {
	case <-revs.ReseedNeeded():
	default:
		t.Fatal("Missed did not request a reseed")
	}
	revoked, err := revs.IsRevoked(t.Context(), store.RevocationQuery{JTI: "j"}, now)
	if err != nil || !revoked {
		t.Fatalf("IsRevoked = %v, %v; want the durable record's answer", revoked, err)
	}
	if err := revs.Reseed(t.Context(), now); err != nil {
		t.Fatal(err)
	}
	if !revs.cacheComplete() {
		t.Fatal("the cache is still distrusted after a successful reseed")
	}
	if revoked, err := cache.IsRevoked(t.Context(), store.RevocationQuery{JTI: "j"}, now); err != nil || !revoked {
		t.Fatalf("the reseed did not copy the missed entry: %v, %v", revoked, err)
	}
}
