package password

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// newOneSlotHasher returns a Hasher with a single slot and the given queue
// timeout, and a hash of "pw" made with it.
func newOneSlotHasher(t *testing.T, queueTimeout time.Duration) (*Hasher, string) {
	t.Helper()
	h, err := NewHasher(Config{
		Params:        Params{Memory: 64, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16},
		AllowWeak:     true,
		MaxConcurrent: 1,
		QueueTimeout:  queueTimeout,
	})
	if err != nil {
		t.Fatal(err)
	}
	encoded, err := h.Hash(context.Background(), "pw")
	if err != nil {
		t.Fatal(err)
	}
	return h, encoded
}

// newHeldHasher is newOneSlotHasher with its slot taken by the test until the
// test ends.
func newHeldHasher(t *testing.T, queueTimeout time.Duration) (*Hasher, string) {
	t.Helper()
	h, encoded := newOneSlotHasher(t, queueTimeout)
	if err := h.acquire(context.Background()); err != nil {
		t.Fatalf("acquire: %v", err)
	}
	t.Cleanup(h.release)
	return h, encoded
}

// operations are the three calls that take a hashing slot.
func operations(encoded string) map[string]func(context.Context, *Hasher) error {
	return map[string]func(context.Context, *Hasher) error{
		"Hash": func(ctx context.Context, h *Hasher) error {
			_, err := h.Hash(ctx, "pw")
			return err
		},
		"Verify": func(ctx context.Context, h *Hasher) error {
			_, _, err := h.Verify(ctx, "pw", encoded)
			return err
		},
		"VerifyDummy": func(ctx context.Context, h *Hasher) error {
			return h.VerifyDummy(ctx, "pw")
		},
	}
}

func TestBusyWhenQueueTimeoutPasses(t *testing.T) {
	for name := range operations("") {
		t.Run(name, func(t *testing.T) {
			h, encoded := newHeldHasher(t, time.Millisecond)
			if err := operations(encoded)[name](context.Background(), h); !errors.Is(err, ErrBusy) {
				t.Fatalf("%s with every slot held = %v, want ErrBusy", name, err)
			}
		})
	}
}

func TestContextEndsWhileWaiting(t *testing.T) {
	for name := range operations("") {
		t.Run(name+" cancelled while waiting", func(t *testing.T) {
			h, encoded := newHeldHasher(t, time.Hour)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- operations(encoded)[name](ctx, h) }()
			cancel()
			if err := <-done; !errors.Is(err, context.Canceled) {
				t.Fatalf("%s = %v, want context.Canceled", name, err)
			}
		})
		t.Run(name+" deadline while waiting", func(t *testing.T) {
			h, encoded := newHeldHasher(t, time.Hour)
			ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
			defer cancel()
			if err := operations(encoded)[name](ctx, h); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("%s = %v, want context.DeadlineExceeded", name, err)
			}
		})
		t.Run(name+" already cancelled with a free slot", func(t *testing.T) {
			h, encoded := newOneSlotHasher(t, time.Hour)
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			if err := operations(encoded)[name](ctx, h); !errors.Is(err, context.Canceled) {
				t.Fatalf("%s = %v, want context.Canceled", name, err)
			}
		})
	}
}

func TestWaiterGetsReleasedSlot(t *testing.T) {
	h, encoded := newOneSlotHasher(t, time.Hour)
	if err := h.acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, _, err := h.Verify(context.Background(), "pw", encoded)
		done <- err
	}()
	h.release()
	if err := <-done; err != nil {
		t.Fatalf("Verify after release = %v", err)
	}
}

func TestRejectedBeforeTakingASlot(t *testing.T) {
	long := strings.Repeat("a", MaxPasswordBytes+1)
	tests := []struct {
		name string
		call func(*Hasher, string) error
		want error
	}{
		{"Hash too long", func(h *Hasher, _ string) error { _, err := h.Hash(context.Background(), long); return err }, ErrTooLong},
		{"Hash empty", func(h *Hasher, _ string) error { _, err := h.Hash(context.Background(), ""); return err }, ErrEmpty},
		{"Verify too long", func(h *Hasher, e string) error { _, _, err := h.Verify(context.Background(), long, e); return err }, ErrTooLong},
		{"Verify malformed", func(h *Hasher, _ string) error {
			_, _, err := h.Verify(context.Background(), "pw", "$argon2id$")
			return err
		}, ErrMalformed},
		{"VerifyDummy too long", func(h *Hasher, _ string) error { return h.VerifyDummy(context.Background(), long) }, ErrTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Every slot is held and waiting would end in ErrBusy, so any
			// other answer proves no slot was waited for.
			h, encoded := newHeldHasher(t, time.Millisecond)
			if err := tt.call(h, encoded); !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
}

func TestSlotsReleasedAfterEveryOutcome(t *testing.T) {
	h, encoded := newOneSlotHasher(t, time.Millisecond)
	ctx := context.Background()
	if _, err := h.Hash(ctx, "pw"); err != nil {
		t.Fatal(err)
	}
	if ok, _, err := h.Verify(ctx, "pw", encoded); err != nil || !ok {
		t.Fatalf("Verify = (%v, %v)", ok, err)
	}
	if ok, _, err := h.Verify(ctx, "wrong", encoded); err != nil || ok {
		t.Fatalf("Verify(wrong) = (%v, %v)", ok, err)
	}
	if err := h.VerifyDummy(ctx, "pw"); err != nil {
		t.Fatal(err)
	}
	if n := len(h.slots); n != 0 {
		t.Fatalf("%d slots still taken after the calls returned", n)
	}
}
