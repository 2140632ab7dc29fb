// Package tokenserver is the HTTP side of the token server: the OAuth 2.0
// token endpoint (RFC 6749 password and refresh_token grants), JWT access
// tokens (RFC 9068), the JWKS and authorization-server metadata (RFC 8414),
// token revocation (RFC 7009) and introspection (RFC 7662), the revocation
// denylist for resource servers (GET /revocations and its server-sent-events
// stream, GET /revocations/stream), and health endpoints.
//
// Register (*Server).Close with http.Server.RegisterOnShutdown: revocation
// streams never end on their own, and Close ends them so Shutdown returns.
//
// It never imports a concrete store: every dependency arrives through Config
// as a store.* interface, the Keys signer, and a *password.Hasher.
//
// Handlers return errors; one writer (writeError) turns them into RFC 6749
// §5.2 JSON error responses, so every failure has the same shape and headers.
package tokenserver
