package faults_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"time"

	"github.com/tokenserver/tokenserver/internal/e2etest"
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
	return &api{base: base, clientID: clientID, secret: secret, led: led, hc: e2etest.NewHTTPClient(requestTimeout)}
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

// post makes one call and records it, with its duration, in the ledger.
func (a *api) post(what, path string, form url.Values) result {
	r := result{call: call{what: what, path: path, start: time.Now()}}
	reply, err := e2etest.PostForm(a.hc, a.base+path, a.clientID, a.secret, form)
	r.took = time.Since(r.start)
	r.body, r.status, r.errCode, r.err = reply.Body, reply.Status, reply.ErrCode, err
	if reply.Header != nil {
		r.retryAfter = reply.Header.Get("Retry-After")
		r.cacheControl = reply.Header.Get("Cache-Control")
	}
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
	return a.token("password", e2etest.PasswordForm(username, password))
}

func (a *api) refresh(rt string) tokenResult {
	return a.token("refresh", e2etest.RefreshForm(rt))
}

// introspect returns the response and, when it is a 200, whether the token
// is active.
func (a *api) introspect(token string) (result, bool) {
	r := a.post("introspect", "/introspect", url.Values{"token": {token}})
	return r, e2etest.Active(e2etest.Reply{Status: r.status, Body: r.body})
}

func (a *api) revoke(token, hint string) result {
	return a.post("revoke", "/revoke", e2etest.RevokeForm(token, hint))
}
