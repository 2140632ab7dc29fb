package verifier

// JWKSFetches returns a channel that receives the result of every JWKS
// fetch of v that completes from now on, sent once the cache has settled
// (the set and its refresh time installed, the in-flight call cleared).
// Tests synchronise on it rather than on the issuer's request counters,
// which move before the response reaches the cache. The buffer covers a
// test's fetches; an unread channel would block the fetch goroutine.
func JWKSFetches(v *Verifier) <-chan error {
	ch := make(chan error, 64)
	v.jwks.mu.Lock()
	v.jwks.fetched = ch
	v.jwks.mu.Unlock()
	return ch
}

// JWKSFetchesStarted returns how many JWKS fetches v has started. The
// Verify that starts a fetch counts it before returning, so comparing the
// count before and after a Verify tells whether that Verify fetched.
func JWKSFetchesStarted(v *Verifier) int {
	v.jwks.mu.Lock()
	defer v.jwks.mu.Unlock()
	return v.jwks.started
}
