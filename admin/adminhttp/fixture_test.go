package adminhttp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/tokenserver/tokenserver/admin"
	"github.com/tokenserver/tokenserver/admin/adminhttp"
	"github.com/tokenserver/tokenserver/audit/audittest"
	"github.com/tokenserver/tokenserver/keys"
	"github.com/tokenserver/tokenserver/sessions"
	"github.com/tokenserver/tokenserver/store"
	"github.com/tokenserver/tokenserver/store/memory"
	"github.com/tokenserver/tokenserver/tokenserver"
	"github.com/tokenserver/tokenserver/tokenserver/password"
)

// Fixture clients: an admin client per scope, and a password-grant client
// that may request the admin scope (whose user tokens must still be refused).
const (
	adminID, adminSecret     = "ops", "ops-secret-0123456789abcdefghijklmnopqrstuvwxyz"
	usersID, usersSecret     = "signup", "signup-secret-0123456789abcdefghijklmnopqrstuvwxyz"
	keysID, keysSecret       = "keyops", "keyops-secret-0123456789abcdefghijklmnopqrstuvwxyz"
	appID, appSecret         = "app", "app-secret-0123456789abcdefghijklmnopqrstuvwxyz"
	aliceName, alicePassword = "alice", "correct horse battery staple"
)

type fixture struct {
	t      *testing.T
	url    string
	mem    *memory.Store
	svc    *admin.Service
	router routers.Router
	// events records the admin service's audit events.
	events *audittest.Recorder
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	mem := memory.New(time.Now)
	hasher, err := password.NewHasher(password.Config{
		Params:    password.Params{Memory: 64, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16},
		AllowWeak: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	kek, err := keys.RandomKEK()
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := keys.NewSealer(kek)
	if err != nil {
		t.Fatal(err)
	}
	keyCfg := keys.Config{Store: mem, Sealer: sealer}
	km, err := keys.NewManager(ctx, keyCfg)
	if err != nil {
		t.Fatal(err)
	}
	sess, err := sessions.New(sessions.Config{Users: mem, Refresh: mem, Revocations: mem, Feed: mem, AccessTokenTTL: 15 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	events := &audittest.Recorder{}
	svc, err := admin.New(admin.Config{Users: mem, Clients: mem, Refresh: mem, Sessions: sess, Hasher: hasher, KeyManager: km,
		CheckPassword: password.Policy{}.Check, Audit: events})
	if err != nil {
		t.Fatal(err)
	}
	cc := []string{"client_credentials"}
	for _, c := range []admin.NewClient{
		{ID: adminID, Secret: adminSecret, ClientSettings: admin.ClientSettings{Grants: cc, Scopes: []string{"admin"}}},
		{ID: usersID, Secret: usersSecret, ClientSettings: admin.ClientSettings{Grants: cc, Scopes: []string{"admin:users"}}},
		{ID: keysID, Secret: keysSecret, ClientSettings: admin.ClientSettings{Grants: cc, Scopes: []string{"admin:keys"}}},
		{ID: appID, Secret: appSecret, ClientSettings: admin.ClientSettings{Grants: []string{"password", "refresh_token"}, Scopes: []string{"admin", "read"}}},
	} {
		if _, _, err := svc.CreateClient(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := svc.CreateUser(ctx, admin.NewUser{Username: aliceName, Password: alicePassword}); err != nil {
		t.Fatal(err)
	}

	srv := httptest.NewUnstartedServer(nil)
	issuer := "http://" + srv.Listener.Addr().String()
	ts, err := tokenserver.New(tokenserver.Config{Issuer: issuer, Users: mem, Clients: mem, Refresh: mem,
		Revocations: mem, Feed: mem, Throttle: mem, Keys: km, Hasher: hasher, Sessions: sess,
		Scopes: []string{"admin", "admin:users", "admin:clients", "admin:keys", "read"}, ClientCacheTTL: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ts.Close)
	tokenHandler := ts.Handler()
	v, err := adminhttp.LocalVerifier(ctx, issuer, issuer, tokenHandler, mem, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	api, err := adminhttp.New(adminhttp.Config{Service: svc, Verifier: v})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/", tokenHandler)
	mux.Handle(adminhttp.Prefix, api)
	srv.Config.Handler = mux
	srv.Start()
	t.Cleanup(srv.Close)

	f := &fixture{t: t, url: issuer, mem: mem, svc: svc, events: events}
	f.router = loadRouter(t, issuer)
	return f
}

// loadRouter loads the committed OpenAPI document (OpenAPI 3.1) for
// openapi3filter, with the server URL made absolute.
func loadRouter(t *testing.T, issuer string) routers.Router {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(adminhttp.OpenAPI())
	if err != nil {
		t.Fatalf("load openapi.json: %v", err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		t.Fatalf("openapi.json is not valid: %v", err)
	}
	doc.Servers = openapi3.Servers{{URL: issuer + "/admin/v1"}}
	r, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// token gets an access token by client_credentials (or, with a username,
// the password grant) and fails the test otherwise.
func (f *fixture) token(id, secret, scope string, user ...string) string {
	f.t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {scope}}
	if len(user) == 2 {
		form = url.Values{"grant_type": {"password"}, "username": {user[0]}, "password": {user[1]}, "scope": {scope}}
	}
	req, _ := http.NewRequest(http.MethodPost, f.url+"/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(id, secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &tok) != nil || tok.AccessToken == "" {
		f.t.Fatalf("token for %s: %d %s", id, resp.StatusCode, body)
	}
	return tok.AccessToken
}

type result struct {
	status int
	header http.Header
	body   []byte
}

// call sends a request to the API and validates the response against the
// OpenAPI document, and the request too unless badRequest says the test
// sends one the document rightly refuses.
func (f *fixture) call(method, path, token, contentType string, body []byte, badRequest bool) result {
	f.t.Helper()
	return f.callRaw(method, path, token, "", contentType, body, badRequest)
}

// callRaw is call with, when auth is set, that Authorization header as is.
func (f *fixture) callRaw(method, path, token, auth, contentType string, body []byte, badRequest bool) result {
	f.t.Helper()
	req, err := http.NewRequest(method, f.url+path, bytes.NewReader(body))
	if err != nil {
		f.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	route, params, routeErr := f.router.FindRoute(req)
	opts := &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, IncludeResponseStatus: true}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: opts}
	if !badRequest {
		if routeErr != nil {
			f.t.Fatalf("%s %s: not in the OpenAPI document: %v", method, path, routeErr)
		}
		vreq := req.Clone(context.Background())
		vreq.Body = io.NopCloser(bytes.NewReader(body))
		in.Request = vreq
		if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
			f.t.Fatalf("%s %s: request does not match the OpenAPI document: %v", method, path, err)
		}
		in.Request = req
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		f.t.Fatal(err)
	}
	if routeErr == nil {
		out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: resp.StatusCode,
			Header: resp.Header, Body: io.NopCloser(bytes.NewReader(got)), Options: opts}
		if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
			f.t.Fatalf("%s %s: response %d %s does not match the OpenAPI document: %v", method, path, resp.StatusCode, got, err)
		}
	}
	return result{status: resp.StatusCode, header: resp.Header, body: got}
}

// do sends a JSON body (nil: none) that the document accepts.
func (f *fixture) do(method, path, token string, v any) result {
	f.t.Helper()
	var body []byte
	ct := ""
	if v != nil {
		var err error
		if body, err = json.Marshal(v); err != nil {
			f.t.Fatal(err)
		}
		ct = "application/json"
	}
	return f.call(method, path, token, ct, body, false)
}

func (r result) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

// user returns the stored user by name.
func (f *fixture) user(name string) store.User {
	f.t.Helper()
	u, err := f.mem.UserByName(context.Background(), name)
	if err != nil {
		f.t.Fatal(err)
	}
	return u
}
