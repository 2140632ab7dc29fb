package tokenserver

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"
)

// maxRequestBody bounds every POST body; token requests are a few hundred
// bytes.
const maxRequestBody = 64 << 10

// form holds the parameters of a token request: each present at most once,
// empty values already dropped.
type form map[string]string

// isKnownParam reports whether an error description may name the
// parameter. Other names come from the client and are never echoed.
func isKnownParam(name string) bool {
	switch name {
	case "grant_type", "username", "password", "scope", "refresh_token",
		"client_id", "client_secret", "token", "token_type_hint":
		return true
	}
	return false
}

// parseForm reads the parameters of a POST to an OAuth endpoint from the
// request body only (RFC 6749 §3.2: "MUST use the HTTP POST method"; the
// parameters are in the entity-body, Appendix B), never from the URL query,
// so credentials in a query string are ignored rather than honoured.
func parseForm(w http.ResponseWriter, r *http.Request) (form, error) {
	if err := checkFormContentType(r.Header.Get("Content-Type")); err != nil {
		return nil, err
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequestBody))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, invalidRequest("request body too large")
		}
		return nil, newError(CodeInvalidRequest, "could not read request body", err)
	}
	return parseFormBody(string(body))
}

// checkFormContentType requires application/x-www-form-urlencoded; a
// charset parameter, if any, must be UTF-8 (RFC 6749 Appendix B).
func checkFormContentType(contentType string) error {
	if contentType == "" {
		return invalidRequest("Content-Type must be application/x-www-form-urlencoded")
	}
	mediaType, params, err := mime.ParseMediaType(contentType)
	if err != nil || mediaType != "application/x-www-form-urlencoded" {
		return invalidRequest("Content-Type must be application/x-www-form-urlencoded")
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return invalidRequest("charset must be UTF-8")
	}
	return nil
}

// parseFormBody parses a form-encoded body. RFC 6749 §3.2: parameters MUST
// NOT be included more than once, and parameters sent without a value MUST
// be treated as omitted.
func parseFormBody(body string) (form, error) {
	values, err := url.ParseQuery(body)
	if err != nil {
		return nil, invalidRequest("malformed form body")
	}
	f := make(form, len(values))
	for name, vs := range values {
		if !isText(name) {
			return nil, invalidRequest("a parameter name is not UTF-8 text")
		}
		if len(vs) > 1 {
			if isKnownParam(name) {
				return nil, invalidRequest("parameter " + name + " is repeated")
			}
			return nil, invalidRequest("a parameter is repeated")
		}
		if !isText(vs[0]) {
			if isKnownParam(name) {
				return nil, invalidRequest("parameter " + name + " is not UTF-8 text")
			}
			return nil, invalidRequest("a parameter value is not UTF-8 text")
		}
		if vs[0] != "" {
			f[name] = vs[0]
		}
	}
	return f, nil
}

// isText reports whether s is valid UTF-8 without NUL. RFC 6749 Appendix B:
// names and values are UTF-8 octets, percent-encoded; a body that decodes to
// anything else is malformed, so it is invalid_request (§5.2: "otherwise
// malformed"), checked here once for every endpoint so that no such string
// reaches a store (PostgreSQL refuses both with SQLSTATE 22021, which would
// otherwise surface as a 500). NUL is valid UTF-8 but no identifier, secret
// or token of ours contains it, and PostgreSQL text cannot hold it.
func isText(s string) bool {
	return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0
}

// require returns the named parameter or invalid_request.
func (f form) require(name string) (string, error) {
	v, ok := f[name]
	if !ok {
		return "", invalidRequest("missing parameter " + name)
	}
	return v, nil
}
