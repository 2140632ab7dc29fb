package cluster_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tokenserver/tokenserver/internal/e2etest"
)

// requestTimeout is the hang detector of every call.
const requestTimeout = 20 * time.Second

// client calls the token server (any node, or the load balancer) as a
// confidential client.
type client struct {
	id, secret string
	hc         *http.Client
}

func newClient(id, secret string) *client {
	return &client{id: id, secret: secret, hc: e2etest.NewHTTPClient(requestTimeout)}
}

// answer is one response, or the transport error instead.
type answer struct {
	status  int
	body    []byte
	header  http.Header
	errCode string // the RFC 6749 error code of a 4xx/5xx
	err     error
}

// retryable: an answer a client retries (the request may not have been
// carried out, or was carried out and its answer lost): a connection
// failure, or 502/503/504 from the balancer or a node. A timeout is a hang,
// never retryable.
func (a answer) retryable() bool {
	if a.err != nil {
		return !e2etest.IsTimeout(a.err)
	}
	return a.status == http.StatusBadGateway || a.status == http.StatusServiceUnavailable || a.status == http.StatusGatewayTimeout
}

func (a answer) String() string {
	if a.err != nil {
		return a.err.Error()
	}
	return strings.TrimSpace(http.StatusText(a.status) + " " + string(a.body))
}

func (c *client) post(base, path string, form url.Values) answer {
	r, err := e2etest.PostForm(c.hc, base+path, c.id, c.secret, form)
	return answer{status: r.Status, body: r.Body, header: r.Header, errCode: r.ErrCode, err: err}
}

// tokens is a /token answer.
type tokens struct {
	answer
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
}

func (c *client) token(base string, form url.Values) tokens {
	t := tokens{answer: c.post(base, "/token", form)}
	if t.status == http.StatusOK {
		if err := json.Unmarshal(t.body, &t); err != nil {
			t.err = err
		}
	}
	return t
}

func (c *client) password(base, user, pw string) tokens {
	return c.token(base, e2etest.PasswordForm(user, pw))
}

func (c *client) refresh(base, rt string) tokens {
	return c.token(base, e2etest.RefreshForm(rt))
}

func (c *client) revoke(base, token, hint string) answer {
	return c.post(base, "/revoke", e2etest.RevokeForm(token, hint))
}

// introspect returns the answer and, for a 200, whether the token is active.
func (c *client) introspect(base, token string) (answer, bool) {
	a := c.post(base, "/introspect", url.Values{"token": {token}})
	return a, e2etest.Active(e2etest.Reply{Status: a.status, Body: a.body})
}

// retry repeats call while its answer is retryable, for at most 30 s.
func retry[T interface{ retryable() bool }](t *testing.T, call func() T) T {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		a := call()
		if !a.retryable() || time.Now().After(deadline) {
			return a
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// login is a password grant at base that must succeed.
func (c *client) login(t *testing.T, base, user, pw string) tokens {
	t.Helper()
	tk := retry(t, func() tokens { return c.password(base, user, pw) })
	if tk.status != http.StatusOK {
		t.Fatalf("login %s at %s: %v", user, base, tk.answer)
	}
	return tk
}

// mustRefresh refreshes at base, which must succeed.
func (c *client) mustRefresh(t *testing.T, base, rt string) tokens {
	t.Helper()
	tk := retry(t, func() tokens { return c.refresh(base, rt) })
	if tk.status != http.StatusOK {
		t.Fatalf("refresh at %s: %v", base, tk.answer)
	}
	return tk
}

// mustRevoke revokes at base, which must answer 200 (RFC 7009 §2.2).
func (c *client) mustRevoke(t *testing.T, base, token, hint string) {
	t.Helper()
	a := retry(t, func() answer { return c.revoke(base, token, hint) })
	if a.status != http.StatusOK {
		t.Fatalf("revoke at %s: %v", base, a)
	}
}
