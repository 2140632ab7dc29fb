package tokenserver

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tokenserver/tokenserver/dpop"
)

// metadataMaxAge is how long clients may cache the metadata document; it
// changes only when the server is reconfigured.
const metadataMaxAge = time.Hour

// confidentialAuthMethods are the methods of clients that have a secret:
// introspection is open only to them (RFC 7662 §2.1 requires the caller
// be authorized).
func confidentialAuthMethods() []string {
	return []string{"client_secret_basic", "client_secret_post"}
}

// authMethods are the client authentication methods of RFC 6749 §2.3.1 and
// §2.1 (public clients), named as in the IANA registry (RFC 7591 §2).
func authMethods() []string {
	return []string{"client_secret_basic", "client_secret_post", "none"}
}

// serverMetadata is the RFC 8414 §2 document.
type serverMetadata struct {
	Issuer          string   `json:"issuer"`
	TokenEndpoint   string   `json:"token_endpoint"`
	JWKSURI         string   `json:"jwks_uri"`
	ScopesSupported []string `json:"scopes_supported,omitempty"`
	// ResponseTypesSupported is REQUIRED by §2 but this server has no
	// authorization endpoint, so it supports no response type: an empty
	// array states that truthfully, where omitting it would make the
	// document invalid.
	ResponseTypesSupported            []string `json:"response_types_supported"`
	GrantTypesSupported               []string `json:"grant_types_supported"`
	TokenEndpointAuthMethodsSupported []string `json:"token_endpoint_auth_methods_supported"`
	RevocationEndpoint                string   `json:"revocation_endpoint"`
	RevocationEndpointAuthMethods     []string `json:"revocation_endpoint_auth_methods_supported"`
	IntrospectionEndpoint             string   `json:"introspection_endpoint"`
	IntrospectionEndpointAuthMethods  []string `json:"introspection_endpoint_auth_methods_supported"`
	// DPoPSigningAlgValuesSupported: the proof algorithms /token accepts
	// (RFC 9449 §5.1).
	DPoPSigningAlgValuesSupported []string `json:"dpop_signing_alg_values_supported"`
}

// buildMetadata encodes the metadata once; it never changes at run time.
func (s *Server) buildMetadata() ([]byte, error) {
	return json.Marshal(serverMetadata{
		Issuer:                            s.cfg.Issuer,
		TokenEndpoint:                     s.base + "/token",
		JWKSURI:                           s.base + "/.well-known/jwks.json",
		ScopesSupported:                   s.cfg.Scopes,
		ResponseTypesSupported:            []string{},
		GrantTypesSupported:               []string{grantPassword, grantRefreshToken, grantClientCredentials},
		TokenEndpointAuthMethodsSupported: authMethods(),
		RevocationEndpoint:                s.base + "/revoke",
		RevocationEndpointAuthMethods:     authMethods(),
		IntrospectionEndpoint:             s.base + "/introspect",
		IntrospectionEndpointAuthMethods:  confidentialAuthMethods(),
		DPoPSigningAlgValuesSupported:     dpop.Algorithms(),
	})
}

// handleMetadata serves RFC 8414 metadata, also at the OpenID Connect
// discovery path so that OIDC-only libraries find jwks_uri.
func (s *Server) handleMetadata(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "public, max-age="+strconv.Itoa(int(metadataMaxAge/time.Second)))
	_, _ = w.Write(s.metadata)
}

// handleJWKS serves the key set (RFC 7517 §5) with caching headers. The
// body and ETag come prebuilt from Keys; nothing is encoded per request.
func (s *Server) handleJWKS(w http.ResponseWriter, r *http.Request) {
	body, etag := s.cfg.Keys.JWKS()
	etag = quoteETag(etag)
	h := w.Header()
	h.Set("Cache-Control", "public, max-age="+strconv.Itoa(int(s.cfg.Keys.MaxAge()/time.Second)))
	if etag != "" {
		h.Set("ETag", etag)
		if etagMatches(r.Header.Get("If-None-Match"), etag) {
			w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	h.Set("Content-Type", "application/jwk-set+json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	_, _ = w.Write(body)
}

// quoteETag returns etag as an RFC 9110 §8.8.3 entity-tag (quoted).
func quoteETag(etag string) string {
	if etag == "" || strings.HasPrefix(etag, `"`) || strings.HasPrefix(etag, `W/"`) {
		return etag
	}
	return `"` + etag + `"`
}

// etagMatches implements If-None-Match (RFC 9110 §13.1.2): "*" or any
// listed tag equal to etag under weak comparison.
func etagMatches(ifNoneMatch, etag string) bool {
	if ifNoneMatch == "" {
		return false
	}
	want := strings.TrimPrefix(etag, "W/")
	for tag := range strings.SplitSeq(ifNoneMatch, ",") {
		tag = strings.TrimSpace(tag)
		if tag == "*" || strings.TrimPrefix(tag, "W/") == want {
			return true
		}
	}
	return false
}
