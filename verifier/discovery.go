package verifier

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// Metadata is the part of the RFC 8414 authorization server metadata the
// verifier uses.
type Metadata struct {
	Issuer                string `json:"issuer"`
	JWKSURI               string `json:"jwks_uri"`
	IntrospectionEndpoint string `json:"introspection_endpoint,omitempty"`
}

// errNotFound marks a 404 so discovery can try the alternative location.
var errNotFound = errors.New("not found")

// Discover fetches the issuer's metadata and checks that it names the same
// issuer (RFC 8414 §3.3: the issuer value MUST be identical to the issuer
// the metadata was requested for, or the metadata MUST NOT be used). client
// nil means DefaultHTTPClient. The URL rules of Config.AllowHTTP apply, with
// allowHTTP in its place.
func Discover(ctx context.Context, client *http.Client, issuer string, allowHTTP bool) (*Metadata, error) {
	if err := checkURL("issuer", issuer, allowHTTP); err != nil {
		return nil, err
	}
	if client == nil {
		client = DefaultHTTPClient()
	}
	var md *Metadata
	var err error
	for _, u := range discoveryURLs(issuer) {
		md, err = fetchMetadata(ctx, client, u)
		if !errors.Is(err, errNotFound) {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("verifier: discovery: %w", err)
	}
	if md.Issuer != issuer {
		return nil, fmt.Errorf("verifier: discovery: metadata issuer %q differs from configured issuer %q (RFC 8414 §3.3)", md.Issuer, issuer)
	}
	if md.JWKSURI == "" {
		return nil, errors.New("verifier: discovery: metadata has no jwks_uri")
	}
	if err := checkURL("jwks_uri", md.JWKSURI, allowHTTP); err != nil {
		return nil, err
	}
	if md.IntrospectionEndpoint != "" {
		if err := checkURL("introspection_endpoint", md.IntrospectionEndpoint, allowHTTP); err != nil {
			return nil, err
		}
	}
	return md, nil
}

// discoveryURLs returns where the metadata may live: RFC 8414 §3.1 inserts
// the well-known segment between host and path; issuers with a path often
// serve it appended instead (the OpenID Connect habit), tried on 404.
func discoveryURLs(issuer string) []string {
	const wellKnown = "/.well-known/oauth-authorization-server"
	u, _ := url.Parse(issuer) // checked by checkURL
	path := strings.TrimSuffix(u.EscapedPath(), "/")
	if path == "" {
		return []string{u.Scheme + "://" + u.Host + wellKnown}
	}
	return []string{
		u.Scheme + "://" + u.Host + wellKnown + path,
		strings.TrimSuffix(issuer, "/") + wellKnown,
	}
}

func fetchMetadata(ctx context.Context, client *http.Client, u string) (*Metadata, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return nil, fmt.Errorf("GET %s: %w", u, errNotFound)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: status %d", u, resp.StatusCode)
	}
	body, err := readLimited(resp.Body, maxDocumentSize)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", u, err)
	}
	var md Metadata
	if err := json.Unmarshal(body, &md); err != nil {
		return nil, fmt.Errorf("GET %s: decode metadata: %w", u, err)
	}
	return &md, nil
}

// readLimited reads at most limit bytes and fails if the body is longer.
func readLimited(r io.Reader, limit int64) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(body)) > limit {
		return nil, fmt.Errorf("response larger than %d bytes", limit)
	}
	return body, nil
}
