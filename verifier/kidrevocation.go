package verifier

// kidRevocationNotifier is implemented by revocation checkers that learn of
// revoked signing keys (Push). New registers the verifier's JWKS cache with
// it, so an emergency key rotation on the issuer reaches the cache through
// the revocation feed within moments instead of after the JWKS max-age.
type kidRevocationNotifier interface {
	onKIDRevoked(f func(kid string))
}

// onKIDRevoked registers f to be called, from the feed's goroutine and
// outside any lock, with each kid revocation Push did not hold before. f
// must not block. Registrations last as long as the Push.
func (p *Push) onKIDRevoked(f func(kid string)) {
	p.kidMu.Lock()
	defer p.kidMu.Unlock()
	p.kidListeners = append(p.kidListeners, f)
}

// notifyKIDs tells every listener about kids. p.mu must not be held.
func (p *Push) notifyKIDs(kids []string) {
	if len(kids) == 0 {
		return
	}
	p.kidMu.Lock()
	listeners := p.kidListeners
	p.kidMu.Unlock()
	for _, kid := range kids {
		p.logger.Warn("verifier: signing key revoked by the issuer; its tokens are refused", "kid", kid)
		for _, f := range listeners {
			f(kid)
		}
	}
}
