// Package dpop implements the proof side of OAuth 2.0 Demonstrating Proof of
// Possession (DPoP, RFC 9449) for both the token server and resource
// servers: parsing and verifying a DPoP proof JWT (§4.2, §4.3), the key
// thumbprint that binds tokens to the key (RFC 7638, "jkt"), replay
// detection of proofs (§11.1), stateless server-provided nonces (§8), and
// making proofs (for clients and tests).
//
// Parse checks a proof on its own: its shape, header, public key and
// signature. Checker.Check also checks it against the HTTP request it came
// with (htm, htu, iat, ath, nonce) and records its jti. Every refusal wraps
// ErrInvalidProof (answer invalid_dpop_proof), except a missing or stale
// nonce, which wraps ErrUseNonce (answer use_dpop_nonce with a fresh
// DPoP-Nonce header), and a failing replay cache, whose error is returned
// as is (refuse with 503; never accept a proof that could be a replay).
//
// The package imports only the standard library, jwx and the store
// contracts (store.ProofReplayCache).
package dpop
