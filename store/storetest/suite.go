package storetest

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"testing"
	"time"
)

// Shared helpers of the conformance suites (users.go, clients.go, refresh.go,
// revocations.go, feed.go, throttle.go, keys.go). Names carry a suite prefix
// so they cannot collide with the server helpers of this package.

// suiteWait bounds every wait for an asynchronous event (feed delivery,
// channel close): long enough for a loaded CI machine, short enough to fail.
const suiteWait = 5 * time.Second

// suiteNow is the wall clock truncated to microseconds, the precision
// PostgreSQL keeps, so round-tripped times compare Equal. The truncation also
// drops the monotonic reading.
func suiteNow() time.Time { return time.Now().Truncate(time.Microsecond) }

// suiteUUID returns a random version-4 UUID: user and family IDs are UUIDs,
// and a backend may store them in a uuid column.
func suiteUUID(t testing.TB) string {
	t.Helper()
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatalf("random uuid: %v", err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// suiteName returns a random identifier-safe name with the given prefix.
func suiteName(t testing.TB, prefix string) string {
	t.Helper()
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatalf("random name: %v", err)
	}
	return prefix + hex.EncodeToString(b[:])
}

// suiteTokenHash returns the lowercase hex SHA-256 of a fresh random token,
// the form in which refresh tokens are stored.
func suiteTokenHash(t testing.TB) string {
	t.Helper()
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatalf("random token: %v", err)
	}
	sum := sha256.Sum256(b[:])
	return hex.EncodeToString(sum[:])
}

// suiteCheckErr fails unless err matches want with errors.Is (backends wrap
// their sentinels); want nil means err must be nil.
func suiteCheckErr(t testing.TB, op string, err, want error) {
	t.Helper()
	switch {
	case want == nil && err != nil:
		t.Fatalf("%s: unexpected error: %v", op, err)
	case want != nil && !errors.Is(err, want):
		t.Fatalf("%s: error = %v, want %v", op, err, want)
	}
}

// suiteTimeDiff describes a mismatch between two times, or returns "".
func suiteTimeDiff(field string, got, want time.Time) string {
	if got.Equal(want) {
		return ""
	}
	return fmt.Sprintf("%s = %v, want %v; ", field, got, want)
}
