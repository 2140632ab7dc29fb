package main

import (
	"encoding/base64"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/tokenserver/tokenserver/dpop"
	"github.com/tokenserver/tokenserver/tokenserver"
)

// dpopFlags are serve's DPoP (RFC 9449) settings. Proofs are always
// accepted at /token; the replay cache is Redis when REDIS_URL is set (so a
// proof is accepted once across all instances), else per process.
type dpopFlags struct {
	nonce       bool
	nonceKey    string
	nonceWindow time.Duration
	maxAge      time.Duration
}

func (d *dpopFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&d.nonce, "dpop-nonce", false, "require server-provided DPoP nonces (RFC 9449 §8): proofs without a current nonce get use_dpop_nonce and a DPoP-Nonce header")
	fs.StringVar(&d.nonceKey, "dpop-nonce-key", "", "secret of the stateless DPoP nonces, 32+ random bytes, base64; the same on every instance (default: derived from the KEK; random per process without one)")
	fs.DurationVar(&d.nonceWindow, "dpop-nonce-window", dpop.DefaultNonceWindow, "a DPoP nonce is valid in its window and the next")
	fs.DurationVar(&d.maxAge, "dpop-proof-max-age", dpop.DefaultMaxAge, "how old a DPoP proof's iat may be; jtis are remembered this long")
}

// config builds the server's DPoP settings. The nonce secret is
// --dpop-nonce-key, else the KEK (every instance of one deployment shares
// it; dpop.NewNonces derives a separate key from it with HKDF), else a
// random per-process secret (the embedded store is one process anyway).
func (d *dpopFlags) config(sf *storeFlags, b *backends) (tokenserver.DPoPConfig, error) {
	if d.maxAge <= 0 {
		return tokenserver.DPoPConfig{}, fmt.Errorf("%s: must be positive", envName("dpop-proof-max-age"))
	}
	cfg := tokenserver.DPoPConfig{Replay: b.dpopReplay, MaxAge: d.maxAge}
	if !d.nonce {
		return cfg, nil
	}
	secret, err := d.nonceSecret(sf)
	if err != nil {
		return tokenserver.DPoPConfig{}, err
	}
	if cfg.Nonces, err = dpop.NewNonces(secret, d.nonceWindow, nil); err != nil {
		return tokenserver.DPoPConfig{}, fmt.Errorf("%s: %w", envName("dpop-nonce-key"), err)
	}
	return cfg, nil
}

func (d *dpopFlags) nonceSecret(sf *storeFlags) ([]byte, error) {
	if d.nonceKey != "" {
		s := strings.TrimRight(strings.TrimSpace(d.nonceKey), "=")
		secret, err := base64.RawStdEncoding.DecodeString(s)
		if err != nil {
			secret, err = base64.RawURLEncoding.DecodeString(s)
		}
		if err != nil || len(secret) < dpop.MinNonceSecret {
			// Never echo the secret.
			return nil, fmt.Errorf("%s: want at least %d random bytes, base64", envName("dpop-nonce-key"), dpop.MinNonceSecret)
		}
		return secret, nil
	}
	kek, err := sf.kekBytes()
	if err != nil {
		return nil, err
	}
	if kek == nil {
		return randomBytes(32)
	}
	return kek, nil
}
