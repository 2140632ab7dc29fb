// Package sessions is the one home of what ends sessions and denies tokens:
// revoking an access token, a session (refresh-token family) or every
// session of a user; the credential changes that must end sessions (new
// password, disable, delete); and the background work that keeps every
// copy of the denylist complete — relaying the durable revocation log to
// the cache and the feed, reseeding the cache when it was lost, purging
// what no token can use any more.
//
// The token endpoint, /revoke and the admin commands all go through it, so
// every revocation is written the same way: durably first (the durable
// record decides success), then to the cache, then published. A publish or
// cache write that fails is not lost: the Relay of every running server
// follows the durable log (store.RevocationLog) and delivers each change to
// its cache, its local feed subscribers and the shared feed, so a
// revocation committed by the CLI without Redis, or while Redis was down,
// still reaches every verifier.
//
// It depends only on package store (and store/fanout for the local feed).
package sessions
