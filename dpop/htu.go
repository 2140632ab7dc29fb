package dpop

import (
	"net"
	"net/url"
	"strings"
)

// NormalizeURL returns the form in which htu and request URLs are compared
// (RFC 9449 §4.3 check 9): query and fragment dropped, scheme and host
// lowercased, the scheme's default port removed, an empty path made "/",
// percent-encoding in the path in one canonical form (RFC 3986 §6.2.2 and
// §6.2.3). It returns false for anything that is not an absolute http or
// https URL.
func NormalizeURL(raw string) (string, bool) {
	u, err := url.Parse(raw)
	if err != nil || u.Opaque != "" || u.User != nil || u.Host == "" {
		return "", false
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" {
		return "", false
	}
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if (scheme == "http" && port == "80") || (scheme == "https" && port == "443") {
		port = ""
	}
	if port != "" || strings.Contains(host, ":") {
		if port == "" {
			host = "[" + host + "]"
		} else {
			host = net.JoinHostPort(host, port)
		}
	}
	// EscapedPath re-encodes from the decoded Path when RawPath is not a
	// valid encoding of it, so %7e and ~ (unreserved) compare equal and
	// hex digits are uppercase.
	path := (&url.URL{Path: u.Path}).EscapedPath()
	if path == "" {
		path = "/"
	}
	return scheme + "://" + host + path, true
}

// SameURL reports whether htu names the request URL target per NormalizeURL.
func SameURL(htu, target string) bool {
	// The usual case on every request: the client sent the URL as the
	// server sees it. Equal strings normalise alike; one parse checks it.
	if htu == target {
		_, ok := NormalizeURL(htu)
		return ok
	}
	a, ok1 := NormalizeURL(htu)
	b, ok2 := NormalizeURL(target)
	return ok1 && ok2 && a == b
}
