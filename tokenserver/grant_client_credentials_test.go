package tokenserver

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"

	"github.com/tokenserver/tokenserver/store"
)

// Clients of the client_credentials tests, added by withServiceClients.
const (
	svcID     = "svc" // confidential, client_credentials only, own audience
	svcSecret = "svc-secret-0123456789abcdefghijklmnopqrstuvwxyz"
	svcAud    = "https://api.example.com"

	// publicSvcID is a public client registered for client_credentials
	// (which `client add` refuses; a store row can still say so).
	publicSvcID = "public-svc"

	// uuidSvcID is a confidential client whose id has the form of a user id
	// (it is alice's).
	uuidSvcID     = aliceID
	uuidSvcSecret = "uuid-secret-0123456789abcdefghijklmnopqrstuvwxyz"
)

// newServiceHarness is a harness with the client_credentials clients too.
func newServiceHarness(t testing.TB) *harness {
	t.Helper()
	h := newHarness(t)
	cc := []string{grantClientCredentials}
	for _, c := range []store.Client{
		{ID: svcID, SecretHash: HashClientSecret(svcSecret), Grants: cc, Scopes: []string{"read", "write"}, Audience: []string{svcAud}},
		{ID: publicSvcID, Grants: cc, Scopes: []string{"read"}},
		{ID: uuidSvcID, SecretHash: HashClientSecret(uuidSvcSecret), Grants: cc, Scopes: []string{"read"}},
	} {
		c.CreatedAt = h.clock.Now()
		if err := h.mem.CreateClient(context.Background(), c); err != nil {
			t.Fatal(err)
		}
	}
	return h
}

func clientCredentialsBody(kv ...string) string {
	return formBody(append([]string{"grant_type", "client_credentials"}, kv...)...)
}

func TestClientCredentialsGrantIssuesToken(t *testing.T) {
	tests := []struct {
		name      string
		body      string
		opts      []reqOption
		wantScope string
	}{
		{name: "no scope gets the client's", body: clientCredentialsBody(),
			opts: []reqOption{withBasic(svcID, svcSecret)}, wantScope: "read write"},
		{name: "narrowed scope", body: clientCredentialsBody("scope", "write"),
			opts: []reqOption{withBasic(svcID, svcSecret)}, wantScope: "write"},
		{name: "client_secret_post", body: clientCredentialsBody("client_id", svcID, "client_secret", svcSecret, "scope", "read"),
			wantScope: "read"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newServiceHarness(t)
			rec := h.token(tt.body, tt.opts...)
			assertTokenResponse(t, rec) // 200, Cache-Control: no-store, Pragma: no-cache
			var raw map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &raw); err != nil {
				t.Fatal(err)
			}
			// §4.4.3: no refresh token.
			if _, ok := raw["refresh_token"]; ok {
				t.Errorf("refresh_token in the response: %s", rec.Body)
			}
			if raw["token_type"] != "Bearer" || raw["expires_in"] != float64(900) || raw["scope"] != tt.wantScope {
				t.Errorf("response %s, want Bearer, 900 s, scope %q", rec.Body, tt.wantScope)
			}
			c := h.claims(raw["access_token"].(string))
			now := h.clock.Now().Unix()
			want := map[string]any{
				"iss": testIssuer, "sub": svcID, "client_id": svcID, "aud": svcAud, "scope": tt.wantScope,
				"iat": float64(now), "nbf": float64(now), "exp": float64(now + 900),
			}
			for k, v := range want {
				if c[k] != v {
					t.Errorf("claim %s = %v, want %v", k, c[k], v)
				}
			}
			for _, k := range []string{"username", "sid", "roles"} {
				if v, ok := c[k]; ok {
					t.Errorf("claim %s = %v in a client_credentials token", k, v)
				}
			}
			if jti, _ := c["jti"].(string); jti == "" {
				t.Error("no jti")
			}
		})
	}
}

// Every refusal: RFC-shaped status, code and headers (assertOAuthError
// checks WWW-Authenticate on 401 and its absence otherwise, and
// Cache-Control: no-store), before any token is signed.
func TestClientCredentialsGrantErrors(t *testing.T) {
	tests := []struct {
		name       string
		body       string
		opts       []reqOption
		wantStatus int
		wantCode   string
	}{
		{name: "scope beyond the registration", body: clientCredentialsBody("scope", "read admin"),
			opts: []reqOption{withBasic(svcID, svcSecret)}, wantStatus: 400, wantCode: CodeInvalidScope},
		{name: "malformed scope", body: clientCredentialsBody("scope", `read "write"`),
			opts: []reqOption{withBasic(svcID, svcSecret)}, wantStatus: 400, wantCode: CodeInvalidScope},
		{name: "client not registered for the grant", body: clientCredentialsBody(),
			opts: []reqOption{withBasic(webID, webSecret)}, wantStatus: 400, wantCode: CodeUnauthorizedClient},
		{name: "public client, client_id in the body", body: clientCredentialsBody("client_id", cliID),
			wantStatus: 400, wantCode: CodeInvalidClient},
		{name: "public client over Basic without a secret", body: clientCredentialsBody(),
			opts: []reqOption{withBasic(cliID, "")}, wantStatus: 401, wantCode: CodeInvalidClient},
		{name: "public client registered for the grant", body: clientCredentialsBody("client_id", publicSvcID),
			wantStatus: 400, wantCode: CodeInvalidClient},
		{name: "public client registered for the grant, over Basic", body: clientCredentialsBody(),
			opts: []reqOption{withBasic(publicSvcID, "")}, wantStatus: 401, wantCode: CodeInvalidClient},
		{name: "wrong secret over Basic", body: clientCredentialsBody(),
			opts: []reqOption{withBasic(svcID, "wrong")}, wantStatus: 401, wantCode: CodeInvalidClient},
		{name: "wrong secret in the body", body: clientCredentialsBody("client_id", svcID, "client_secret", "wrong"),
			wantStatus: 400, wantCode: CodeInvalidClient},
		{name: "no secret for a confidential client", body: clientCredentialsBody("client_id", svcID),
			wantStatus: 400, wantCode: CodeInvalidClient},
		{name: "unknown client over Basic", body: clientCredentialsBody(),
			opts: []reqOption{withBasic("nobody", svcSecret)}, wantStatus: 401, wantCode: CodeInvalidClient},
		{name: "no client authentication", body: clientCredentialsBody(),
			wantStatus: 400, wantCode: CodeInvalidClient},
		{name: "client id shaped like a user id", body: clientCredentialsBody(),
			opts: []reqOption{withBasic(uuidSvcID, uuidSvcSecret)}, wantStatus: 400, wantCode: CodeUnauthorizedClient},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newServiceHarness(t)
			signs := countSigns(h)
			assertOAuthError(t, h.token(tt.body, tt.opts...), tt.wantStatus, tt.wantCode)
			if n := signs(); n != 0 {
				t.Errorf("%d access tokens signed for a refused request", n)
			}
		})
	}
}

// countSigns swaps the server's Keys for one that counts Sign calls and
// returns the count so far.
func countSigns(h *harness) func() int {
	n := 0
	h.srv.cfg.Keys = signCounter{Keys: h.keys, n: &n}
	return func() int { return n }
}

type signCounter struct {
	Keys
	n *int
}

func (s signCounter) Sign(payload []byte) (string, error) {
	*s.n++
	return s.Keys.Sign(payload)
}

// A client_credentials token is active at /introspect (sub = client id, no
// username, no sid), survives a user's `sub` revocation, and its jti is
// revoked at /revoke by the client it was issued to (and only by it).
func TestClientCredentialsTokenRevocation(t *testing.T) {
	h := newServiceHarness(t)
	tok := h.mustToken(h.token(clientCredentialsBody("scope", "read"), withBasic(svcID, svcSecret)))

	got := h.introspectAs(webID, webSecret, tok.AccessToken)
	for k, v := range map[string]any{"active": true, "sub": svcID, "client_id": svcID, "scope": "read",
		"token_type": "Bearer", "token_use": "access_token", "aud": svcAud} {
		if got[k] != v {
			t.Errorf("introspection %s = %v, want %v", k, got[k], v)
		}
	}
	for _, k := range []string{"username", "sid"} {
		if v, ok := got[k]; ok {
			t.Errorf("introspection %s = %v for a client_credentials token", k, v)
		}
	}

	// A user's revoke-all (sub = the user's UUID) does not touch it.
	ss, err := h.srv.sessionService()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ss.EndUserSessions(context.Background(), aliceID); err != nil {
		t.Fatal(err)
	}
	if !h.active(tok.AccessToken) {
		t.Fatal("a user's sub revocation denied a client_credentials token")
	}

	// Another client's /revoke is a no-op (RFC 7009 §2.1).
	h.revokeAs(webID, webSecret, tok.AccessToken)
	if !h.active(tok.AccessToken) {
		t.Fatal("another client revoked the token")
	}

	h.revokeAs(svcID, svcSecret, tok.AccessToken, "token_type_hint", "access_token")
	rec := h.introspectReq(formBody("token", tok.AccessToken), withBasic(webID, webSecret))
	assertIntrospectionResponse(t, rec)
	if rec.Body.String() != inactiveJSON {
		t.Errorf("after /revoke: %s, want %s", rec.Body, inactiveJSON)
	}
	var jtis int
	for _, r := range h.activeRevocations() {
		if r.Kind == store.RevokeJTI {
			jtis++
		}
	}
	if jtis != 1 {
		t.Errorf("%d jti revocations, want 1", jtis)
	}
}

func TestUserIDShaped(t *testing.T) {
	tests := []struct {
		id   string
		want bool
	}{
		{aliceID, true},
		{"550E8400-E29B-41D4-A716-446655440000", true},
		{"svc", false},
		{"", false},
		{"550e8400e29b41d4a716446655440000", false},
		{"550e8400-e29b-41d4-a716-44665544000g", false},
		{"550e8400-e29b-41d4-a716_446655440000", false},
		{"{550e8400-e29b-41d4-a716-446655440000}", false},
		{"x550e8400-e29b-41d4-a716-446655440000", false},
	}
	for _, tt := range tests {
		t.Run(url.PathEscape(tt.id), func(t *testing.T) {
			if got := UserIDShaped(tt.id); got != tt.want {
				t.Errorf("UserIDShaped(%q) = %v, want %v", tt.id, got, tt.want)
			}
		})
	}
}

// BenchmarkClientCredentialsGrant measures one client_credentials request
// through the handler: form parse, client authentication (registration from
// the cache, one SHA-256 of the secret), grant and scope checks, sign,
// respond. No store is written.
func BenchmarkClientCredentialsGrant(b *testing.B) {
	h := newServiceHarness(b)
	body := clientCredentialsBody()
	auth := withBasic(svcID, svcSecret)
	b.ReportAllocs()
	for b.Loop() {
		if rec := h.token(body, auth); rec.Code != http.StatusOK {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
}
