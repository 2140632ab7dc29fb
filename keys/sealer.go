package keys

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// KEKSize is the length of a key-encryption key: AES-256.
const KEKSize = 32

// sealVersion is the first byte of every sealed blob, so the format can change
// without guessing. Version 1: version || nonce(12) || AES-256-GCM(pkcs8) || tag(16),
// with additional data version || kid.
const sealVersion byte = 1

// ErrWrongKEK is returned (wrapped) by Open, and so by NewManager, when a
// sealed key does not open under the configured key-encryption key.
var ErrWrongKEK = errors.New("keys: the key-encryption key (TOKENSERVER_KEK) does not match the one the stored signing keys were sealed with, or a sealed key was altered")

// Sealer encrypts private keys at rest with AES-256-GCM under a
// key-encryption key (KEK). It is safe for concurrent use.
type Sealer struct {
	aead cipher.AEAD
}

// NewSealer returns a Sealer for a KEK of exactly KEKSize bytes.
func NewSealer(kek []byte) (*Sealer, error) {
	if len(kek) != KEKSize {
		return nil, fmt.Errorf("keys: key-encryption key must be %d bytes, got %d", KEKSize, len(kek))
	}
	block, err := aes.NewCipher(kek)
	if err != nil {
		return nil, fmt.Errorf("keys: key-encryption key: %w", err)
	}
	// A random 96-bit nonce per seal: a KEK seals a handful of keys over its
	// life, far below the 2^32 messages NIST SP 800-38D allows per key.
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return nil, fmt.Errorf("keys: key-encryption key: %w", err)
	}
	return &Sealer{aead: aead}, nil
}

// RandomKEK returns a fresh random key-encryption key, for the in-memory store
// whose keys live only as long as the process.
func RandomKEK() ([]byte, error) {
	kek := make([]byte, KEKSize)
	if _, err := rand.Read(kek); err != nil {
		return nil, fmt.Errorf("keys: random key-encryption key: %w", err)
	}
	return kek, nil
}

// ParseKEK decodes a key-encryption key given as base64 (standard or URL
// alphabet, with or without padding). The error never echoes the input.
func ParseKEK(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errors.New("keys: TOKENSERVER_KEK is empty: it must be 32 random bytes in base64 (generate one with `head -c 32 /dev/urandom | base64`)")
	}
	for _, enc := range []*base64.Encoding{
		base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding,
	} {
		kek, err := enc.Strict().DecodeString(s)
		if err != nil {
			continue
		}
		if len(kek) != KEKSize {
			return nil, fmt.Errorf("keys: TOKENSERVER_KEK decodes to %d bytes: it must be exactly %d random bytes in base64 (generate one with `head -c 32 /dev/urandom | base64`)", len(kek), KEKSize)
		}
		return kek, nil
	}
	return nil, errors.New("keys: TOKENSERVER_KEK is not valid base64: it must be 32 random bytes in base64 (generate one with `head -c 32 /dev/urandom | base64`)")
}

// additionalData binds a sealed blob to its format version and key ID, so a
// blob moved onto another key's row does not open.
func additionalData(kid string) []byte {
	ad := make([]byte, 0, 1+len(kid))
	ad = append(ad, sealVersion)
	return append(ad, kid...)
}

// Seal encrypts plaintext (a PKCS #8 private key) for the key kid.
func (s *Sealer) Seal(kid string, plaintext []byte) ([]byte, error) {
	if kid == "" {
		return nil, errors.New("keys: seal: empty key id")
	}
	out := make([]byte, 1, 1+len(plaintext)+s.aead.Overhead())
	out[0] = sealVersion
	return s.aead.Seal(out, nil, plaintext, additionalData(kid)), nil
}

// Open decrypts a blob made by Seal for the same kid. A wrong KEK, a blob of
// another key or an altered blob return an error wrapping ErrWrongKEK (GCM
// cannot tell these apart).
func (s *Sealer) Open(kid string, sealed []byte) ([]byte, error) {
	if len(sealed) == 0 {
		return nil, fmt.Errorf("keys: open key %s: empty sealed key", kid)
	}
	if sealed[0] != sealVersion {
		return nil, fmt.Errorf("keys: open key %s: unknown sealed-key format version %d", kid, sealed[0])
	}
	if len(sealed) < 1+s.aead.Overhead() {
		return nil, fmt.Errorf("keys: open key %s: sealed key too short (%d bytes)", kid, len(sealed))
	}
	plain, err := s.aead.Open(nil, nil, sealed[1:], additionalData(kid))
	if err != nil {
		return nil, fmt.Errorf("keys: open key %s: %w", kid, ErrWrongKEK)
	}
	return plain, nil
}
