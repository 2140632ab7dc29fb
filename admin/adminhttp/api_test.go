package adminhttp_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/tokenserver/tokenserver/admin/adminhttp"
)

type problemJSON struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Field  string `json:"field"`
}

// assertProblem checks an RFC 9457 answer: status, type, field and the
// headers that go with it.
func assertProblem(t *testing.T, r result, status int, typ, field string) problemJSON {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("Content-Type %q", ct)
	}
	if cc := r.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q", cc)
	}
	var p problemJSON
	r.decode(t, &p)
	if p.Type != typ || p.Status != status || p.Field != field || p.Title == "" {
		t.Errorf("problem %+v, want type %s status %d field %q", p, typ, status, field)
	}
	wantChallenge := status == http.StatusUnauthorized || status == http.StatusForbidden
	if got := r.header.Get("WWW-Authenticate"); (got != "") != wantChallenge && status != http.StatusBadRequest {
		t.Errorf("WWW-Authenticate %q on %d", got, status)
	}
	if status == http.StatusServiceUnavailable && r.header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	return p
}

func TestUsersLifecycle(t *testing.T) {
	f := newFixture(t)
	tok := f.token(usersID, usersSecret, "admin:users")

	r := f.do("POST", "/admin/v1/users", tok, map[string]any{"username": "Bob", "password": "bob's long password"})
	if r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	var bob struct {
		ID       string `json:"id"`
		Username string `json:"username"`
	}
	r.decode(t, &bob)
	if bob.Username != "bob" || r.header.Get("Location") != "/admin/v1/users/"+bob.ID {
		t.Fatalf("created %+v at %q; want the normalized name and its Location", bob, r.header.Get("Location"))
	}
	assertProblem(t, f.do("POST", "/admin/v1/users", tok, map[string]any{"username": "BOB", "password": "another password"}),
		http.StatusConflict, adminhttp.TypeExists, "")

	if r := f.do("GET", "/admin/v1/users/"+bob.ID, tok, nil); r.status != http.StatusOK {
		t.Fatalf("get: %d %s", r.status, r.body)
	}
	// Pages: alice, bob, then carol on the next page.
	f.do("POST", "/admin/v1/users", tok, map[string]any{"username": "carol", "password": "carol's long password"})
	var page struct {
		Users []struct {
			Username string `json:"username"`
		} `json:"users"`
		NextCursor string `json:"next_cursor"`
	}
	f.do("GET", "/admin/v1/users?limit=2", tok, nil).decode(t, &page)
	if len(page.Users) != 2 || page.Users[0].Username != "alice" || page.Users[1].Username != "bob" || page.NextCursor != "bob" {
		t.Fatalf("first page %+v", page)
	}
	page.NextCursor = ""
	f.do("GET", "/admin/v1/users?limit=2&cursor=bob", tok, nil).decode(t, &page)
	if len(page.Users) != 1 || page.Users[0].Username != "carol" || page.NextCursor != "" {
		t.Fatalf("second page %+v", page)
	}
	f.do("GET", "/admin/v1/users?prefix=CA", tok, nil).decode(t, &page)
	if len(page.Users) != 1 || page.Users[0].Username != "carol" {
		t.Fatalf("prefix page %+v", page)
	}

	// Sessions: alice logs in twice; one revoked, then all.
	alice := f.user(aliceName)
	f.token(appID, appSecret, "read", aliceName, alicePassword)
	f.token(appID, appSecret, "read", aliceName, alicePassword)
	var sessions struct {
		Sessions []struct {
			ID       string `json:"id"`
			ClientID string `json:"client_id"`
		} `json:"sessions"`
	}
	f.do("GET", "/admin/v1/users/"+alice.ID+"/sessions", tok, nil).decode(t, &sessions)
	if len(sessions.Sessions) != 2 || sessions.Sessions[0].ClientID != appID {
		t.Fatalf("sessions %+v", sessions)
	}
	if r := f.do("DELETE", "/admin/v1/users/"+alice.ID+"/sessions/"+sessions.Sessions[0].ID, tok, nil); r.status != http.StatusNoContent {
		t.Fatalf("revoke one: %d %s", r.status, r.body)
	}
	assertProblem(t, f.do("DELETE", "/admin/v1/users/"+alice.ID+"/sessions/"+sessions.Sessions[0].ID, tok, nil),
		http.StatusNotFound, adminhttp.TypeNotFound, "")
	var revoked struct {
		N int `json:"revoked_sessions"`
	}
	f.do("DELETE", "/admin/v1/users/"+alice.ID+"/sessions", tok, nil).decode(t, &revoked)
	if revoked.N != 1 {
		t.Fatalf("log out everywhere revoked %d, want 1", revoked.N)
	}

	// Password, disable, enable, delete.
	if r := f.do("PUT", "/admin/v1/users/"+bob.ID+"/password", tok, map[string]any{"password": "a brand new password"}); r.status != http.StatusOK {
		t.Fatalf("set password: %d %s", r.status, r.body)
	}
	f.token(appID, appSecret, "read", "bob", "a brand new password")
	for _, p := range []string{"disable", "enable"} {
		if r := f.do("POST", "/admin/v1/users/"+bob.ID+"/"+p, tok, nil); r.status != http.StatusOK {
			t.Fatalf("%s: %d %s", p, r.status, r.body)
		}
	}
	if r := f.do("DELETE", "/admin/v1/users/"+bob.ID, tok, nil); r.status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	assertProblem(t, f.do("GET", "/admin/v1/users/"+bob.ID, tok, nil), http.StatusNotFound, adminhttp.TypeNotFound, "")
}

func TestClientsLifecycle(t *testing.T) {
	f := newFixture(t)
	tok := f.token(adminID, adminSecret, "admin")
	r := f.do("POST", "/admin/v1/clients", tok, map[string]any{"id": "svc", "grants": []string{"client_credentials"},
		"scopes": []string{"read"}, "access_token_ttl": 300})
	if r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	var c struct {
		Secret   string   `json:"client_secret"`
		Type     string   `json:"type"`
		Scopes   []string `json:"scopes"`
		Previous string   `json:"previous_secret_expires_at"`
	}
	r.decode(t, &c)
	if len(c.Secret) < 32 || c.Type != "confidential" {
		t.Fatalf("created %s", r.body)
	}
	first := c.Secret
	f.token("svc", first, "read")
	assertProblem(t, f.do("POST", "/admin/v1/clients", tok, map[string]any{"id": "svc"}), http.StatusConflict, adminhttp.TypeExists, "")

	// A secret never shows again.
	if r := f.do("GET", "/admin/v1/clients/svc", tok, nil); r.status != http.StatusOK || strings.Contains(string(r.body), "client_secret") {
		t.Fatalf("get: %d %s", r.status, r.body)
	}
	r = f.do("PUT", "/admin/v1/clients/svc", tok, map[string]any{"grants": []string{"client_credentials"}, "scopes": []string{"read", "admin:keys"}})
	r.decode(t, &c)
	if !slices.Equal(c.Scopes, []string{"read", "admin:keys"}) {
		t.Fatalf("updated: %s", r.body)
	}

	// Rotation with overlap: both secrets work.
	r = f.do("POST", "/admin/v1/clients/svc/secret", tok, map[string]any{"overlap_seconds": 3600})
	c.Secret = ""
	r.decode(t, &c)
	if r.status != http.StatusOK || c.Secret == "" || c.Secret == first || c.Previous == "" {
		t.Fatalf("rotate: %d %s", r.status, r.body)
	}
	f.token("svc", c.Secret, "read")
	f.token("svc", first, "read")
	// Rotation without overlap: the previous secret stops at once.
	second := c.Secret
	f.do("POST", "/admin/v1/clients/svc/secret", tok, map[string]any{"overlap_seconds": 0}).decode(t, &c)
	f.token("svc", c.Secret, "read")
	if _, err := f.svc.Client(t.Context(), "svc"); err != nil {
		t.Fatal(err)
	}
	assertTokenRefused(t, f, "svc", second)

	var list struct {
		Clients []struct {
			ID string `json:"id"`
		} `json:"clients"`
	}
	f.do("GET", "/admin/v1/clients", tok, nil).decode(t, &list)
	if len(list.Clients) != 5 {
		t.Fatalf("list: %+v", list)
	}
	if r := f.do("DELETE", "/admin/v1/clients/svc", tok, nil); r.status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	assertProblem(t, f.do("DELETE", "/admin/v1/clients/svc", tok, nil), http.StatusNotFound, adminhttp.TypeNotFound, "")
}

func assertTokenRefused(t *testing.T, f *fixture, id, secret string) {
	t.Helper()
	req, _ := http.NewRequest("POST", f.url+"/token", strings.NewReader("grant_type=client_credentials"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(id, secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("token with a rotated-out secret: %d, want 401", resp.StatusCode)
	}
}

func TestKeys(t *testing.T) {
	f := newFixture(t)
	tok := f.token(keysID, keysSecret, "admin:keys")
	var list struct {
		Keys []struct {
			KID     string `json:"kid"`
			Signing bool   `json:"signing"`
		} `json:"keys"`
	}
	f.do("GET", "/admin/v1/keys", tok, nil).decode(t, &list)
	if len(list.Keys) == 0 {
		t.Fatal("no keys")
	}
	var signing string
	for _, k := range list.Keys {
		if k.Signing {
			signing = k.KID
		}
	}
	var rot struct {
		RevokedKIDs []string `json:"revoked_kids"`
	}
	if r := f.do("POST", "/admin/v1/keys/rotate", tok, map[string]any{"emergency": true}); r.status != http.StatusOK {
		t.Fatalf("rotate: %d %s", r.status, r.body)
	} else {
		r.decode(t, &rot)
	}
	if !slices.Contains(rot.RevokedKIDs, signing) {
		t.Fatalf("emergency rotation revoked %q, want the signing key %s", rot.RevokedKIDs, signing)
	}
	// The token signed by the leaked key is refused now.
	assertProblem(t, f.do("GET", "/admin/v1/keys", tok, nil), http.StatusUnauthorized, adminhttp.TypeUnauthorized, "")
	tok = f.token(keysID, keysSecret, "admin:keys")
	// The new next key may not activate yet: a planned rotation is refused.
	assertProblem(t, f.do("POST", "/admin/v1/keys/rotate", tok, map[string]any{}), http.StatusConflict, adminhttp.TypeConflict, "")
}
