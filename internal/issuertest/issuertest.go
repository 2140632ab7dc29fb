// Package issuertest runs a real token server (package tokenserver on the
// in-memory store, with generated signing keys) on a loopback httptest
// server, for the examples and tests of resource servers: the verifier's
// examples and the guides under docs/examples. Everything a resource server
// talks to is the real thing: discovery, the JWKS, /token, /revoke,
// /introspect and /revocations/stream.
package issuertest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"time"

	"github.com/tokenserver/tokenserver/dpop"
	"github.com/tokenserver/tokenserver/keys"
	"github.com/tokenserver/tokenserver/sessions"
	"github.com/tokenserver/tokenserver/store"
	"github.com/tokenserver/tokenserver/store/memory"
	"github.com/tokenserver/tokenserver/tokenserver"
	"github.com/tokenserver/tokenserver/tokenserver/password"
)

// accessTokenTTL is the server's default.
const accessTokenTTL = 15 * time.Minute

// Client is a client registration.
type Client struct {
	ID, Secret string
	// Grants; nil means password and refresh_token. A resource server's own
	// client (for /introspect and /revocations) needs none: pass []string{}.
	Grants []string
	Scopes []string
	// Audience of the client's access tokens; empty means the server's
	// default, which is the issuer (as with `tokenserver client add`
	// without --audience).
	Audience []string
}

// User is a user with a password.
type User struct {
	Name, Password string
	id             string
}

// Config is what the server starts with.
type Config struct {
	Clients []Client
	Users   []User
	// Scopes advertised in discovery.
	Scopes []string
	// DPoPNonceSecret, when set, makes /token require server-provided DPoP
	// nonces (RFC 9449 §8) made with it (at least 32 bytes).
	DPoPNonceSecret []byte
}

// Issuer is a running token server.
type Issuer struct {
	// URL is the issuer identifier and base URL, http://127.0.0.1:<port>.
	URL string

	srv      *httptest.Server
	ts       *tokenserver.Server
	sessions *sessions.Service
	secrets  map[string]string // client id → secret
	users    map[string]User   // username → user
}

// Start starts a token server with cfg's clients and users. Close it.
func Start(cfg Config) (*Issuer, error) {
	ctx := context.Background()
	mem := memory.New(time.Now)
	// Small argon2id parameters: these passwords protect nothing, and the
	// examples should run in milliseconds.
	hasher, err := password.NewHasher(password.Config{
		Params:    password.Params{Memory: 64, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16},
		AllowWeak: true,
	})
	if err != nil {
		return nil, fmt.Errorf("issuertest: %w", err)
	}
	kek, err := keys.RandomKEK()
	if err != nil {
		return nil, fmt.Errorf("issuertest: %w", err)
	}
	sealer, err := keys.NewSealer(kek)
	if err != nil {
		return nil, fmt.Errorf("issuertest: %w", err)
	}
	km, err := keys.NewManager(ctx, keys.Config{Store: mem, Sealer: sealer})
	if err != nil {
		return nil, fmt.Errorf("issuertest: keys: %w", err)
	}
	is := &Issuer{secrets: map[string]string{}, users: map[string]User{}}
	now := time.Now()
	for _, c := range cfg.Clients {
		grants := c.Grants
		if grants == nil {
			grants = []string{"password", "refresh_token"}
		}
		var hash string
		if c.Secret != "" {
			hash = tokenserver.HashClientSecret(c.Secret)
		}
		if err := mem.CreateClient(ctx, store.Client{ID: c.ID, SecretHash: hash, Grants: grants,
			Scopes: c.Scopes, Audience: c.Audience, CreatedAt: now}); err != nil {
			return nil, fmt.Errorf("issuertest: client %s: %w", c.ID, err)
		}
		is.secrets[c.ID] = c.Secret
	}
	for i, u := range cfg.Users {
		u.id = fmt.Sprintf("00000000-0000-4000-8000-%012d", i+1)
		hash, err := hasher.Hash(ctx, u.Password)
		if err != nil {
			return nil, fmt.Errorf("issuertest: user %s: %w", u.Name, err)
		}
		if err := mem.CreateUser(ctx, store.User{
			ID: u.id, Username: u.Name, PasswordHash: hash,
			CreatedAt: now, UpdatedAt: now, PasswordChangedAt: now,
		}); err != nil {
			return nil, fmt.Errorf("issuertest: user %s: %w", u.Name, err)
		}
		is.users[u.Name] = u
	}

	// One path for every revocation, as in the server (see package sessions).
	is.sessions, err = sessions.New(sessions.Config{Users: mem, Refresh: mem, Revocations: mem, Feed: mem,
		AccessTokenTTL: accessTokenTTL})
	if err != nil {
		return nil, fmt.Errorf("issuertest: %w", err)
	}

	var dpopCfg tokenserver.DPoPConfig
	if cfg.DPoPNonceSecret != nil {
		if dpopCfg.Nonces, err = dpop.NewNonces(cfg.DPoPNonceSecret, 0, nil); err != nil {
			return nil, fmt.Errorf("issuertest: %w", err)
		}
	}

	// The issuer is the server's own URL, so the listener comes first.
	is.srv = httptest.NewUnstartedServer(nil)
	is.URL = "http://" + is.srv.Listener.Addr().String()
	is.ts, err = tokenserver.New(tokenserver.Config{
		Issuer: is.URL,
		Users:  mem, Clients: mem, Refresh: mem, Revocations: mem, Feed: mem, Throttle: mem,
		Keys: km, Hasher: hasher, Scopes: cfg.Scopes, Sessions: is.sessions, AccessTokenTTL: accessTokenTTL,
		DPoP: dpopCfg,
	})
	if err != nil {
		is.srv.Listener.Close()
		return nil, err
	}
	is.srv.Config.Handler = is.ts.Handler()
	is.srv.Start()
	return is, nil
}

// Close ends the revocation streams, then the server.
func (is *Issuer) Close() {
	is.ts.Close()
	is.srv.Close()
}

// Token runs the password grant for username as clientID and returns the
// access token.
func (is *Issuer) Token(clientID, username, scope string) (string, error) {
	access, _, err := is.Login(clientID, username, scope)
	return access, err
}

// Login runs the password grant for username as clientID and returns the
// access token and the refresh token.
func (is *Issuer) Login(clientID, username, scope string) (access, refresh string, err error) {
	form := url.Values{"grant_type": {"password"}, "username": {username},
		"password": {is.users[username].Password}, "scope": {scope}}
	var tok struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	if err := is.post("/token", clientID, form, &tok); err != nil {
		return "", "", err
	}
	if tok.AccessToken == "" {
		return "", "", errors.New("issuertest: /token: no access_token")
	}
	return tok.AccessToken, tok.RefreshToken, nil
}

// EndUserSessions does what `tokenserver user revoke-sessions NAME` does:
// every session of the user ends and every access token issued to the user
// until now is denied (a `sub` revocation).
func (is *Issuer) EndUserSessions(username string) error {
	u, ok := is.users[username]
	if !ok {
		return fmt.Errorf("issuertest: no user %q", username)
	}
	_, err := is.sessions.EndUserSessions(context.Background(), u.id)
	return err
}

// Revoke revokes token as clientID (POST /revoke, RFC 7009): an access
// token by its jti, a refresh token with its whole session (sid).
func (is *Issuer) Revoke(clientID, token string) error {
	return is.post("/revoke", clientID, url.Values{"token": {token}}, nil)
}

// post sends form with clientID's Basic credentials and decodes a 200
// answer into out (if not nil).
func (is *Issuer) post(path, clientID string, form url.Values, out any) error {
	req, err := http.NewRequest(http.MethodPost, is.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	// RFC 6749 §2.3.1: id and secret are form-encoded before Basic.
	req.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(is.secrets[clientID]))
	resp, err := is.srv.Client().Do(req)
	if err != nil {
		return fmt.Errorf("issuertest: %s: %w", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("issuertest: %s: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("issuertest: %s: %s: %s", path, resp.Status, body)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("issuertest: %s: %w", path, err)
	}
	return nil
}
