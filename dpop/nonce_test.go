package dpop

import (
	"errors"
	"testing"
	"time"
)

func TestNonces(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	now := testNow
	clock := func() time.Time { return now }
	a, err := NewNonces(secret, time.Minute, clock)
	if err != nil {
		t.Fatal(err)
	}
	// Another node with the same secret.
	b, _ := NewNonces(secret, time.Minute, clock)
	other, _ := NewNonces([]byte("another secret of 32 bytes, ok!!"), time.Minute, clock)

	n, err := a.Issue()
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Check(n); err != nil {
		t.Errorf("other node: Check(fresh) = %v", err)
	}
	if err := other.Check(n); !errors.Is(err, ErrStaleNonce) {
		t.Errorf("other secret: Check = %v, want ErrStaleNonce", err)
	}
	now = now.Add(time.Minute) // next window: still accepted
	if err := b.Check(n); err != nil {
		t.Errorf("next window: Check = %v", err)
	}
	now = now.Add(time.Minute) // two windows on: stale
	if err := b.Check(n); !errors.Is(err, ErrStaleNonce) {
		t.Errorf("two windows on: Check = %v, want ErrStaleNonce", err)
	}
	// A nonce from a future window (a clock ahead, or forged) is refused.
	future, _ := NewNonces(secret, time.Minute, func() time.Time { return now.Add(time.Hour) })
	fn, _ := future.Issue()
	if err := b.Check(fn); !errors.Is(err, ErrStaleNonce) {
		t.Errorf("future window: Check = %v, want ErrStaleNonce", err)
	}
	for _, bad := range []string{"", "x", n[:len(n)-1], n + "A", n[:10] + "A" + n[11:]} {
		if err := b.Check(bad); !errors.Is(err, ErrStaleNonce) {
			t.Errorf("Check(%q) = %v, want ErrStaleNonce", bad, err)
		}
	}
	if _, err := NewNonces(secret[:31], 0, nil); err == nil {
		t.Error("NewNonces(31-byte secret) = nil error")
	}
}
