package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// maxBody bounds what the load generator reads of any answer.
const maxBody = 1 << 20

// newHTTPClient returns a keep-alive client with room for conns idle
// connections to one host, so a closed loop of conns workers reuses its
// connections and never dials during the measurement.
func newHTTPClient(conns int) *http.Client {
	tr := &http.Transport{
		Proxy:               nil, // loopback only, never a proxy from the environment
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     60 * time.Second,
		DisableCompression:  true,
	}
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// oauthClient talks to the token server as the bench client.
type oauthClient struct {
	http  *http.Client
	base  string
	basic string // Authorization header value
}

func newOAuthClient(h *http.Client, base, clientID, secret string) *oauthClient {
	// RFC 6749 §2.3.1: id and secret are form-urlencoded before Basic.
	cred := url.QueryEscape(clientID) + ":" + url.QueryEscape(secret)
	return &oauthClient{http: h, base: base, basic: "Basic " + base64.StdEncoding.EncodeToString([]byte(cred))}
}

// postForm sends an authenticated form POST and returns the status and body.
func (c *oauthClient) postForm(ctx context.Context, path, form string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path, strings.NewReader(form))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", c.basic)
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return 0, nil, err
	}
	return resp.StatusCode, body, nil
}

// get fetches url and discards the body (reading it all, so the connection
// is reused).
func get(ctx context.Context, h *http.Client, url string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := h.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, io.LimitReader(resp.Body, maxBody)); err != nil {
		return 0, err
	}
	return resp.StatusCode, nil
}

// fetch returns the body of a GET.
func fetch(ctx context.Context, h *http.Client, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := h.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("tokenbench: GET %s: %s", url, resp.Status)
	}
	return body, nil
}

// tokenResponse is the part of a token endpoint answer the benchmark uses.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
}

// passwordForms are the request bodies of password grants, one per user, so
// consecutive requests differ.
func passwordForms(usernames []string, password string) []string {
	forms := make([]string, len(usernames))
	for i, u := range usernames {
		forms[i] = url.Values{"grant_type": {"password"}, "username": {u}, "password": {password}}.Encode()
	}
	return forms
}

// passwordGrant performs one password grant and returns the tokens on 200.
func (c *oauthClient) passwordGrant(ctx context.Context, form string) (int, tokenResponse, error) {
	status, body, err := c.postForm(ctx, "/token", form)
	if err != nil || status != http.StatusOK {
		return status, tokenResponse{}, err
	}
	var tr tokenResponse
	if err := json.Unmarshal(body, &tr); err != nil || tr.AccessToken == "" {
		return 0, tr, fmt.Errorf("tokenbench: malformed token response: %.200s", body)
	}
	return status, tr, nil
}

// tokenSink keeps up to limit access tokens for the introspection phase.
type tokenSink struct {
	mu     sync.Mutex
	limit  int
	tokens []string
}

func (s *tokenSink) add(tok string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.tokens) < s.limit {
		s.tokens = append(s.tokens, tok)
	}
}

func (s *tokenSink) all() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.tokens...)
}

// chainPool holds refresh-token chains: each entry is the one live refresh
// token of a session. A refresh takes a chain out, uses its token exactly
// once, and puts the successor back, so no token is ever presented twice and
// no two requests race on one session.
type chainPool chan string

// refresh rotates one chain. With no chain free it returns errStopWorker; a
// chain whose refresh failed is dropped (its token may be consumed).
func (p chainPool) refresh(ctx context.Context, c *oauthClient, sink *tokenSink) (int, error) {
	var tok string
	select {
	case tok = <-p:
	default:
		return 0, errStopWorker
	}
	status, body, err := c.postForm(ctx, "/token", "grant_type=refresh_token&refresh_token="+url.QueryEscape(tok))
	if err != nil || status != http.StatusOK {
		return status, err
	}
	var tr tokenResponse
	if err := json.Unmarshal(body, &tr); err != nil || tr.RefreshToken == "" {
		return 0, fmt.Errorf("tokenbench: malformed refresh response: %.200s", body)
	}
	if sink != nil {
		sink.add(tr.AccessToken)
	}
	p <- tr.RefreshToken // never blocks: the pool has room for every chain
	return status, nil
}
