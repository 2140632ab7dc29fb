package keys

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"

	"github.com/tokenserver/tokenserver/store"
)

// StaticKey is a private key from configuration, for deployments that manage
// keys outside tokenserver (files mounted from a secret store).
type StaticKey struct {
	// Signer is the private key.
	Signer crypto.Signer
	// State comes from configuration: exactly one current key; next keys are
	// published ahead of a planned switch; retired keys are published until
	// they are removed from the configuration.
	State store.KeyState
	// Source names the key in errors (the file name); never its content.
	Source string
}

// ParsePEM parses one unencrypted PEM private key: PKCS #8 ("PRIVATE KEY"),
// SEC 1 ("EC PRIVATE KEY") or PKCS #1 ("RSA PRIVATE KEY").
func ParsePEM(data []byte) (crypto.Signer, error) {
	block, rest := pem.Decode(data)
	if block == nil {
		return nil, errors.New("keys: no PEM block found")
	}
	if next, _ := pem.Decode(rest); next != nil {
		return nil, errors.New("keys: more than one PEM block; put one private key per file")
	}
	var (
		raw any
		err error
	)
	switch block.Type {
	case "PRIVATE KEY":
		raw, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		raw, err = x509.ParseECPrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		raw, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "ENCRYPTED PRIVATE KEY":
		return nil, errors.New("keys: encrypted PEM private keys are not supported; decrypt it (openssl pkcs8 -in key.pem -out plain.pem) and protect the file instead")
	default:
		return nil, fmt.Errorf("keys: PEM block %q is not a private key (want PRIVATE KEY, EC PRIVATE KEY or RSA PRIVATE KEY)", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("keys: parse %s: %w", block.Type, err)
	}
	signer, ok := raw.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("keys: unsupported private key type %T", raw)
	}
	if _, err := algorithmOf(signer); err != nil {
		return nil, err
	}
	return signer, nil
}

// LoadPEMFiles reads the key files of a static configuration: one current
// key and any number of next and retired keys.
func LoadPEMFiles(current string, next, retired []string) ([]StaticKey, error) {
	var out []StaticKey
	load := func(path string, state store.KeyState) error {
		data, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("keys: %s key file: %w", state, err)
		}
		signer, err := ParsePEM(data)
		clear(data)
		if err != nil {
			return fmt.Errorf("keys: %s key file %s: %w", state, path, err)
		}
		out = append(out, StaticKey{Signer: signer, State: state, Source: path})
		return nil
	}
	if current == "" {
		return nil, errors.New("keys: a current key file is required")
	}
	if err := load(current, store.KeyCurrent); err != nil {
		return nil, err
	}
	for _, p := range next {
		if err := load(p, store.KeyNext); err != nil {
			return nil, err
		}
	}
	for _, p := range retired {
		if err := load(p, store.KeyRetired); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// NewStaticManager returns a Manager over fixed keys: no store, no rotation
// (Rotate and RotateNow return ErrStaticKeys), Reload and Run do nothing.
// Exactly one key must be current; it signs, and its algorithm must equal
// cfg.Algorithm when that is set (empty means: the current key's). Store,
// Sealer and the lifecycle durations other than MaxAge are ignored.
func NewStaticManager(cfg Config, keys []StaticKey) (*Manager, error) {
	var currentAlg string
	for _, k := range keys {
		if k.State != store.KeyCurrent {
			continue
		}
		if currentAlg != "" {
			return nil, errors.New("keys: more than one current key configured")
		}
		alg, err := algorithmOf(k.Signer)
		if err != nil {
			return nil, fmt.Errorf("keys: %s: %w", k.Source, err)
		}
		currentAlg = alg
	}
	if currentAlg == "" {
		return nil, errors.New("keys: no current key configured")
	}
	if cfg.Algorithm == "" {
		cfg.Algorithm = currentAlg
	}
	if cfg.Algorithm != currentAlg {
		return nil, fmt.Errorf("keys: the current key is %s but the signing algorithm is %s", currentAlg, cfg.Algorithm)
	}
	cfg.PublishAlgorithms = nil
	if err := cfg.normalize(); err != nil {
		return nil, err
	}
	m := newManager(cfg)
	now := cfg.Now().UTC()
	entries := make([]*entry, 0, len(keys))
	for _, sk := range keys {
		switch sk.State {
		case store.KeyCurrent, store.KeyNext, store.KeyRetired:
		default:
			return nil, fmt.Errorf("keys: %s: unknown state %q (want current, next or retired)", sk.Source, sk.State)
		}
		alg, err := algorithmOf(sk.Signer)
		if err != nil {
			return nil, fmt.Errorf("keys: %s: %w", sk.Source, err)
		}
		k, err := newKey(alg, sk.Signer, now)
		if err != nil {
			return nil, fmt.Errorf("keys: %s: %w", sk.Source, err)
		}
		pub, err := k.PublicJSON()
		if err != nil {
			return nil, err
		}
		meta := store.SigningKey{ID: k.ID, Algorithm: alg, State: sk.State, CreatedAt: now}
		if sk.State == store.KeyCurrent {
			meta.ActivatesAt = now
		}
		entries = append(entries, &entry{meta: meta, key: k, publicJWK: pub})
	}
	s, err := buildSnapshot([32]byte{}, entries, cfg.Algorithm, now)
	if err != nil {
		return nil, err
	}
	m.snap.Store(s)
	return m, nil
}
