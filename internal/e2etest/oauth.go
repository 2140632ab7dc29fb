package e2etest

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// NewHTTPClient returns a client whose every request fails after timeout
// (the caller's hang detector), with enough idle connections per host for
// a test's concurrent load.
func NewHTTPClient(timeout time.Duration) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 32
	return &http.Client{Transport: tr, Timeout: timeout}
}

// Reply is one answer to a form POST.
type Reply struct {
	Status int
	Header http.Header
	Body   []byte
	// ErrCode is the "error" member of a 4xx/5xx JSON body (RFC 6749
	// §5.2), empty otherwise.
	ErrCode string
}

// PostForm POSTs form to endpoint as the confidential client clientID,
// authenticated with HTTP Basic (RFC 6749 §2.3.1: id and secret
// form-urlencoded first), and reads the whole answer. On a transport error
// the Reply is empty; when only the body could not be read, Status and
// Header are set.
func PostForm(hc *http.Client, endpoint, clientID, secret string, form url.Values) (Reply, error) {
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return Reply{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(secret))
	resp, err := hc.Do(req)
	if err != nil {
		return Reply{}, err
	}
	defer resp.Body.Close()
	r := Reply{Status: resp.StatusCode, Header: resp.Header}
	if r.Body, err = io.ReadAll(resp.Body); err != nil {
		return r, err
	}
	var e struct {
		Error string `json:"error"`
	}
	if r.Status >= 400 && json.Unmarshal(r.Body, &e) == nil {
		r.ErrCode = e.Error
	}
	return r, nil
}

// PasswordForm is a password grant request (RFC 6749 §4.3.2).
func PasswordForm(username, password string) url.Values {
	return url.Values{"grant_type": {"password"}, "username": {username}, "password": {password}}
}

// RefreshForm is a refresh request (RFC 6749 §6).
func RefreshForm(refreshToken string) url.Values {
	return url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refreshToken}}
}

// RevokeForm is a revocation request (RFC 7009 §2.1); hint may be empty.
func RevokeForm(token, hint string) url.Values {
	form := url.Values{"token": {token}}
	if hint != "" {
		form.Set("token_type_hint", hint)
	}
	return form
}

// Active reports whether r is a 200 introspection answer saying the token
// is active (RFC 7662 §2.2); anything else is false.
func Active(r Reply) bool {
	var body struct {
		Active bool `json:"active"`
	}
	return r.Status == http.StatusOK && json.Unmarshal(r.Body, &body) == nil && body.Active
}

// IsTimeout reports whether a transport error is a deadline: a hang.
func IsTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}
