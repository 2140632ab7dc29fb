// Package verifier is the resource-server side of tokenserver: it verifies
// RFC 9068 JWT access tokens offline against the issuer's published JWKS,
// optionally checks them against a revocation source, and offers an HTTP
// middleware for RFC 6750 bearer tokens and RFC 9449 DPoP-bound tokens
// (the DPoP scheme with a proof of the token's key; see DPoPConfig and
// VerifyDPoP). A DPoP-bound token is never accepted as a bearer token.
//
// The package is importable on its own: it depends on the standard library,
// jwx/v3, the store package (for the revocation wire types and the DPoP
// replay cache contract) and package dpop (proofs).
//
// A typical resource server:
//
//	v, err := verifier.New(ctx, verifier.Config{
//		Issuer:   "https://auth.example.com",
//		Audience: "https://api.example.com",
//	})
//	mux.Handle("GET /hello", verifier.Middleware(v, "read")(hello))
//
// Revocation is optional (Config.Revocation): Push keeps an in-memory copy
// of the issuer's denylist fed by server-sent events or a store.RevocationFeed
// (Redis pub/sub), Introspection asks the issuer (RFC 7662) with a short
// cache, and nil trusts a token until it expires. A Push also holds
// revocations by signing key (`kid`, recorded by an emergency key rotation
// on the issuer): it refuses every token of the key, and a Verifier using it
// drops the key from its JWKS cache and refetches the JWKS at once.
package verifier
