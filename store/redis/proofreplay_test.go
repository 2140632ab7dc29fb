package redis

import (
	"crypto/sha256"
	"encoding/base64"
	"testing"
	"time"

	"github.com/tokenserver/tokenserver/store"
	"github.com/tokenserver/tokenserver/store/storetest"
)

func TestProofReplayCache(t *testing.T) {
	storetest.TestProofReplayCache(t, func(t *testing.T) store.ProofReplayCache {
		s, _ := openStore(t)
		return s
	})
}

// The entry is under the prefix, named by the key's hash (never the
// client-chosen jti itself), and Redis forgets it at until.
func TestProofReplayKeyLayout(t *testing.T) {
	s, target := openStore(t)
	raw := rawClient(t, target)
	until := time.Now().Add(time.Minute).Truncate(time.Millisecond)
	if replayed, err := s.Seen(t.Context(), "jkt.jti-1", until); err != nil || replayed {
		t.Fatalf("Seen = %v, %v; want false, nil", replayed, err)
	}
	sum := sha256.Sum256([]byte("jkt.jti-1"))
	name := target.Prefix + "dpop:" + base64.RawURLEncoding.EncodeToString(sum[:])
	at, err := raw.PExpireTime(t.Context(), name).Result()
	if err != nil {
		t.Fatalf("PEXPIRETIME %s: %v", name, err)
	}
	if got := time.UnixMilli(int64(at / time.Millisecond)); !got.Equal(until) {
		t.Errorf("%s expires at %v, want %v", name, got, until)
	}
}
