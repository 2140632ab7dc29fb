package adminhttp

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/tokenserver/tokenserver/store"
	"github.com/tokenserver/tokenserver/verifier"
)

// StoreRevocations is a verifier.RevocationChecker reading the token
// server's own denylist (the one its introspection reads), for a resource
// server running inside the token server: no feed to lag behind.
type StoreRevocations struct {
	Store store.RevocationStore
	Now   func() time.Time
}

// Revoked implements verifier.RevocationChecker; a store error fails closed.
func (s StoreRevocations) Revoked(ctx context.Context, c *verifier.Claims) (bool, error) {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	revoked, err := s.Store.IsRevoked(ctx, store.RevocationQuery{JTI: c.JTI, SID: c.SID, Sub: c.Subject,
		IssuedAt: c.IssuedAt, KID: c.KeyID}, now())
	if err != nil {
		return false, fmt.Errorf("adminhttp: revocation check: %w: %w", verifier.ErrRevocationUnavailable, err)
	}
	return revoked, nil
}

// handlerTransport serves requests with an in-process handler: the verifier
// reads the JWKS from the server it runs in, without a network round trip.
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, r)
	return rec.Result(), nil
}

// LocalVerifier returns a verifier of the token server's own tokens for the
// admin API: the JWKS is read from jwks (the token server's handler) in
// process, revocations from the server's denylist.
func LocalVerifier(ctx context.Context, issuer, audience string, jwks http.Handler, revocations store.RevocationStore, now func() time.Time) (*verifier.Verifier, error) {
	return verifier.New(ctx, verifier.Config{
		Issuer:   issuer,
		Audience: audience,
		Metadata: &verifier.Metadata{Issuer: issuer, JWKSURI: strings.TrimSuffix(issuer, "/") + "/.well-known/jwks.json"},
		// In process: nothing travels over a network, whatever the scheme.
		AllowHTTP:  true,
		HTTPClient: &http.Client{Transport: handlerTransport{jwks}},
		Revocation: StoreRevocations{Store: revocations, Now: now},
		Now:        now,
		Realm:      Realm,
	})
}
