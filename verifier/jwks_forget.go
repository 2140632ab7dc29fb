package verifier

import "maps"

// forget handles a kid revocation (an emergency key rotation on the
// issuer): it drops kid from the cached set at once and fetches the set
// once more, ignoring MinRefreshInterval, so the key that signs now is
// known. A fetch already in flight may carry the set from before the
// rotation, so forget waits for it and then starts its own. The returned
// channel is closed when that fetch has finished (successfully or not).
//
// The refetched set may still list kid: another issuer instance may not
// have reloaded its keys yet. That does not matter for safety: Push holds
// the kid revocation and refuses the key's tokens whatever the JWKS says.
func (c *jwksCache) forget(kid string) <-chan struct{} {
	c.dropKID(kid)
	c.mu.Lock()
	prev := c.inflight
	c.mu.Unlock()
	done := make(chan struct{})
	go func() {
		defer close(done)
		if prev != nil {
			<-prev.done
		}
		c.mu.Lock()
		call := c.inflight
		if call == nil || call == prev {
			// Any other fetch in flight started after the revocation
			// arrived, which is what we need; otherwise start one.
			call = c.startLocked()
		}
		c.mu.Unlock()
		<-call.done
	}()
	return done
}

// dropKID removes kid from the cached set. The set is immutable and read
// without locks, so a copy without kid replaces it (retrying if a fetch
// installs a new set meanwhile).
func (c *jwksCache) dropKID(kid string) {
	for {
		old := c.keys.Load()
		if old == nil {
			return
		}
		if _, ok := old.byKID[kid]; !ok {
			return
		}
		next := &keySet{byKID: maps.Clone(old.byKID)}
		delete(next.byKID, kid)
		if c.keys.CompareAndSwap(old, next) {
			return
		}
	}
}
