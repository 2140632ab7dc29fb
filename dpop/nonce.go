package dpop

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// DefaultNonceWindow is how long one nonce window lasts; a nonce is
// accepted in its window and the next, so for one to two windows.
const DefaultNonceWindow = 5 * time.Minute

// MinNonceSecret is the least secret length NewNonces accepts.
const MinNonceSecret = 32

// ErrStaleNonce: a nonce missing, malformed, not ours, or from a window
// before the previous one. Checker wraps it in ErrUseNonce.
var ErrStaleNonce = errors.New("dpop: nonce missing or stale")

// nonceAAD separates these ciphertexts from any other use of the key.
var nonceAAD = []byte("tokenserver dpop nonce v1")

// Nonces makes and checks server-provided nonces (RFC 9449 §8) without
// state: a nonce is the AES-256-GCM encryption of its time window's number
// under a key derived from a shared secret, so every node configured with
// the secret accepts every other node's nonces, and a client cannot make
// one for a future window.
type Nonces struct {
	aead   cipher.AEAD
	window time.Duration
	now    func() time.Time
}

// NewNonces derives the nonce key from secret (HKDF-SHA256, at least
// MinNonceSecret bytes). window <= 0 means DefaultNonceWindow; now nil
// means time.Now.
func NewNonces(secret []byte, window time.Duration, now func() time.Time) (*Nonces, error) {
	if len(secret) < MinNonceSecret {
		return nil, fmt.Errorf("dpop: nonce secret of %d bytes, want at least %d", len(secret), MinNonceSecret)
	}
	key, err := hkdf.Key(sha256.New, secret, nil, string(nonceAAD), 32)
	if err != nil {
		return nil, fmt.Errorf("dpop: derive nonce key: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("dpop: nonce cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("dpop: nonce cipher: %w", err)
	}
	if window <= 0 {
		window = DefaultNonceWindow
	}
	if now == nil {
		now = time.Now
	}
	return &Nonces{aead: aead, window: window, now: now}, nil
}

func (n *Nonces) current() int64 { return n.now().UnixNano() / int64(n.window) }

// Issue returns a nonce for the current window (base64url, 48 characters,
// within the NQCHAR syntax of §8.1).
func (n *Nonces) Issue() (string, error) {
	var plain [8]byte
	binary.BigEndian.PutUint64(plain[:], uint64(n.current()))
	buf := make([]byte, n.aead.NonceSize(), n.aead.NonceSize()+len(plain)+n.aead.Overhead())
	if _, err := rand.Read(buf); err != nil {
		return "", fmt.Errorf("dpop: nonce: %w", err)
	}
	buf = n.aead.Seal(buf, buf, plain[:], nonceAAD)
	return b64.EncodeToString(buf), nil
}

// Check accepts a nonce issued in the current or the previous window by
// any Nonces with the same secret and window; otherwise ErrStaleNonce.
func (n *Nonces) Check(nonce string) error {
	raw, err := decodeSegment(nonce)
	if err != nil || len(raw) != n.aead.NonceSize()+8+n.aead.Overhead() {
		return ErrStaleNonce
	}
	plain, err := n.aead.Open(nil, raw[:n.aead.NonceSize()], raw[n.aead.NonceSize():], nonceAAD)
	if err != nil {
		return ErrStaleNonce
	}
	w, cur := int64(binary.BigEndian.Uint64(plain)), n.current()
	if w != cur && w != cur-1 {
		return ErrStaleNonce
	}
	return nil
}
