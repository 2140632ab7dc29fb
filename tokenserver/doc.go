// Package tokenserver is the HTTP side of the token server: the OAuth 2.0
// token endpoint (RFC 6749 password and refresh_token grants), JWT access
// tokens (RFC 9068), the JWKS and authorization-server metadata (RFC 8414),
// and health endpoints.
//
// It never imports a concrete store: every dependency arrives through Config
// as a store.* interface, the Keys signer, and a *password.Hasher.
//
// Handlers return errors; one writer (writeError) turns them into RFC 6749
// §5.2 JSON error responses, so every failure has the same shape and headers.
package tokenserver
