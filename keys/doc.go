// Package keys owns tokenserver's signing keys: it generates them, seals
// them at rest, runs their lifecycle (next → current → retired → removed),
// signs access tokens with the current key, verifies tokens against the
// published keys, and serves the JWKS document (RFC 7517).
//
// The live state is an immutable snapshot behind an atomic pointer, so Sign,
// Verify and JWKS never take a lock; it is rebuilt only when the stored key
// set changes (or a retired key reaches its RemoveAt). Every change to the
// stored set goes through store.KeyStore.UpdateKeys and is decided inside its
// callback from the set it receives, so any number of instances rotating at
// once leave exactly one current key per algorithm.
//
// Timeline of one key, with the Config defaults (MaxAge 10m, Margin 1m,
// MaxTokenTTL 15m, RotationPeriod 30 days):
//
//	created as next      published, does not sign; ActivatesAt = created + MaxAge + Margin,
//	                     so every cached copy of the JWKS has it before it signs
//	promoted to current  signs (ActivatesAt is overwritten with the promotion time)
//	retired              stops signing; still published and verifying until
//	                     RemoveAt = retired + MaxTokenTTL + MaxAge + Margin
//	removed              past RemoveAt: unpublished, its tokens fail, pruned from the store
//
// MaxAge in RemoveAt also covers other instances that keep signing with the
// old key until their next Reload (at most RefreshInterval later).
//
// This package imports only the standard library, jwx v3 and store.
package keys
