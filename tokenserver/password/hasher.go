package password

import (
	"context"
	"crypto/rand"
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/argon2"
)

// MaxPasswordBytes is the longest password accepted, in bytes. Longer ones are
// rejected with ErrTooLong before any hashing, so a huge password cannot be
// used to burn CPU.
const MaxPasswordBytes = 1024

// defaultQueueTimeout is how long a caller waits for a hashing slot when
// Config.QueueTimeout is zero.
const defaultQueueTimeout = 2 * time.Second

// Config configures a Hasher.
type Config struct {
	// Params are the argon2id parameters for new hashes and the bar below
	// which stored hashes need a rehash. Zero means OWASP().
	Params Params
	// MaxConcurrent is how many hash computations may run at once. Zero
	// means runtime.GOMAXPROCS(0).
	MaxConcurrent int
	// QueueTimeout is how long a caller may wait for a slot before ErrBusy.
	// A caller who cannot expect a slot within it gets ErrBusy at once (see
	// the package doc). Zero means 2s.
	QueueTimeout time.Duration
	// AllowWeak accepts Params below the OWASP minimum. It exists only so
	// tests and benchmarks can run fast; never set it in production.
	AllowWeak bool
	// Observer receives admission and hashing events (metrics, traces).
	// Nil means none.
	Observer Observer
}

// Hasher hashes and verifies passwords with bounded concurrency. It is safe
// for concurrent use.
type Hasher struct {
	params       Params
	slots        chan struct{}
	queueTimeout time.Duration
	dummy        argon2idHash
	observer     Observer

	// now is the clock hash durations are measured with (tests replace it).
	now func() time.Time
	// waiting counts callers waiting for a slot.
	waiting atomic.Int64
	// meanHashNanos is the moving average of hash durations, in
	// nanoseconds, from which acquire predicts a caller's wait.
	meanHashNanos atomic.Int64
}

// NewHasher validates cfg and returns a Hasher. It computes one argon2id hash
// of a random password at cfg's parameters for VerifyDummy. It returns an
// error if the parameters are out of bounds or, unless cfg.AllowWeak, below
// the OWASP minimum, or if MaxConcurrent or QueueTimeout is negative.
func NewHasher(cfg Config) (*Hasher, error) {
	p := cfg.Params
	if p == (Params{}) {
		p = OWASP()
	}
	if err := p.validate(); err != nil {
		return nil, fmt.Errorf("password: params: %w", err)
	}
	if !cfg.AllowWeak && !p.meetsOWASP() {
		return nil, fmt.Errorf("password: params %+v below the OWASP minimum %+v", p, OWASP())
	}
	if cfg.MaxConcurrent < 0 {
		return nil, fmt.Errorf("password: MaxConcurrent %d is negative", cfg.MaxConcurrent)
	}
	if cfg.QueueTimeout < 0 {
		return nil, fmt.Errorf("password: QueueTimeout %s is negative", cfg.QueueTimeout)
	}
	slots := cfg.MaxConcurrent
	if slots == 0 {
		slots = runtime.GOMAXPROCS(0)
	}
	timeout := cfg.QueueTimeout
	if timeout == 0 {
		timeout = defaultQueueTimeout
	}
	observer := cfg.Observer
	if observer == nil {
		observer = nopObserver{}
	}
	h := &Hasher{params: p, slots: make(chan struct{}, slots), queueTimeout: timeout, now: time.Now, observer: observer}

	dummyPassword := make([]byte, 32)
	_, _ = rand.Read(dummyPassword) // crypto/rand.Read never fails (Go 1.24+).
	h.dummy = h.derive(string(dummyPassword))
	return h, nil
}

// Params returns the parameters used for new hashes.
func (h *Hasher) Params() Params { return h.params }

// MaxConcurrent returns how many hash computations may run at once.
func (h *Hasher) MaxConcurrent() int { return cap(h.slots) }

// Hash returns an argon2id PHC string for password at h's parameters. Errors:
// ErrEmpty, ErrTooLong (before waiting), ErrBusy, or the context's error if
// ctx ends while waiting for a slot.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	if password == "" {
		return "", ErrEmpty
	}
	if len(password) > MaxPasswordBytes {
		return "", ErrTooLong
	}
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	defer h.release()
	var derived argon2idHash
	h.timed(ctx, func() { derived = h.derive(password) })
	return derived.encode(), nil
}

// derive computes an argon2id hash of password with a fresh random salt at
// h's parameters. The caller holds a slot (or is NewHasher).
func (h *Hasher) derive(password string) argon2idHash {
	salt := make([]byte, h.params.SaltLen)
	_, _ = rand.Read(salt) // crypto/rand.Read never fails (Go 1.24+).
	key := argon2.IDKey([]byte(password), salt, h.params.Time, h.params.Memory, h.params.Threads, h.params.KeyLen)
	return argon2idHash{params: h.params, salt: salt, key: key}
}

// Verify reports whether password matches encoded, and whether the caller
// should replace encoded with a fresh Hash of password (only meaningful when
// ok). A mismatch is ok=false with a nil error. Errors: ErrTooLong (before
// parsing or waiting), ErrMalformed (before waiting), ErrBusy, or the
// context's error if ctx ends while waiting for a slot.
func (h *Hasher) Verify(ctx context.Context, password, encoded string) (ok, needsRehash bool, err error) {
	if len(password) > MaxPasswordBytes {
		return false, false, ErrTooLong
	}
	v, err := parse(encoded)
	if err != nil {
		return false, false, err
	}
	if err := h.acquire(ctx); err != nil {
		return false, false, err
	}
	defer h.release()
	var matched bool
	h.timed(ctx, func() { matched = v.matches(password) })
	if !matched {
		return false, false, nil
	}
	return true, v.needsRehash(h.params), nil
}

// VerifyDummy does the work of verifying password against an argon2id hash
// at h's parameters and discards the result. Call it when the user does not
// exist, so that unknown users cost the same as wrong passwords. Errors are
// those of Verify except ErrMalformed.
func (h *Hasher) VerifyDummy(ctx context.Context, password string) error {
	if len(password) > MaxPasswordBytes {
		return ErrTooLong
	}
	if err := h.acquire(ctx); err != nil {
		return err
	}
	defer h.release()
	h.timed(ctx, func() { _ = h.dummy.matches(password) })
	return nil
}

// verifier is a parsed stored hash of any supported format.
type verifier interface {
	matches(password string) bool
	needsRehash(current Params) bool
}

func (a argon2idHash) needsRehash(current Params) bool { return a.params.weakerThan(current) }

// needsRehash is always true: every bcrypt form is replaced by argon2id.
func (bcryptHash) needsRehash(Params) bool { return true }

// parse dispatches on the stored hash's prefix. Every failure wraps
// ErrMalformed.
func parse(encoded string) (verifier, error) {
	if len(encoded) > maxEncodedLen {
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrMalformed, maxEncodedLen)
	}
	switch {
	case strings.HasPrefix(encoded, argon2idPrefix):
		return parseArgon2id(encoded)
	case strings.HasPrefix(encoded, saltedBcryptPrefix):
		return parseSaltedBcrypt(encoded)
	case strings.HasPrefix(encoded, pbkdf2SHA256Prefix), strings.HasPrefix(encoded, pbkdf2SHA512Prefix):
		return parsePBKDF2(encoded)
	case strings.HasPrefix(encoded, "$2"):
		return parseBcrypt(encoded)
	}
	return nil, fmt.Errorf("%w: unknown hash format", ErrMalformed)
}

// Check validates the format and parameter bounds of a stored hash, for
// example one being imported. It returns nil for a supported argon2id,
// bcrypt, salted bcrypt or PBKDF2 hash in its stored form and an error
// wrapping ErrMalformed otherwise. Import also accepts foreign forms.
func Check(encoded string) error {
	_, err := parse(encoded)
	return err
}
