package faults_test

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

// requestTimeout is the hang detector of every call: a request still
// unanswered after it is a failure of invariant 4, never a slow success.
const requestTimeout = 20 * time.Second

// api calls the token server as the confidential client clientID and
// records every exchange in the ledger.
type api struct {
	base             string
	clientID, secret string
	hc               *http.Client
	led              *ledger
}

func newAPI(base, clientID, secret string, led *ledger) *api {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 32
	return &api{base: base, clientID: clientID, secret: secret, led: led,
		hc: &http.Client{Transport: tr, Timeout: requestTimeout}}
}

// result is one response (or its absence).
type result struct {
	call
	body []byte
}

// tokenResult is a /token answer.
type tokenResult struct {
	result
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
}

func (a *api) post(what, path string, form url.Values) result {
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, a.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(a.clientID), url.QueryEscape(a.secret))
	r := result{call: call{what: what, path: path, start: time.Now()}}
	resp, err := a.hc.Do(req)
	if err == nil {
		r.body, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		r.status = resp.StatusCode
		r.retryAfter = resp.Header.Get("Retry-After")
		r.cacheControl = resp.Header.Get("Cache-Control")
		var e struct {
			Error string `json:"error"`
		}
		if r.status >= 400 && json.Unmarshal(r.body, &e) == nil {
			r.errCode = e.Error
		}
	}
	r.took = time.Since(r.start)
	r.err = err
	a.led.record(r.call)
	return r
}

func (a *api) token(what string, form url.Values) tokenResult {
	tr := tokenResult{result: a.post(what, "/token", form)}
	if tr.status == http.StatusOK {
		_ = json.Unmarshal(tr.body, &tr)
	}
	return tr
}

func (a *api) password(username, password string) tokenResult {
	return a.token("password", url.Values{"grant_type": {"password"}, "username": {username}, "password": {password}})
}

func (a *api) refresh(rt string) tokenResult {
	return a.token("refresh", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
}

// introspect returns the response and, when it is a 200, whether the token
// is active.
func (a *api) introspect(token string) (result, bool) {
	r := a.post("introspect", "/introspect", url.Values{"token": {token}})
	var body struct {
		Active bool `json:"active"`
	}
	if r.status == http.StatusOK && json.Unmarshal(r.body, &body) == nil {
		return r, body.Active
	}
	return r, false
}

func (a *api) revoke(token, hint string) result {
	form := url.Values{"token": {token}}
	if hint != "" {
		form.Set("token_type_hint", hint)
	}
	return a.post("revoke", "/revoke", form)
}

// isTimeout reports whether a transport error is a deadline: a hang.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}
