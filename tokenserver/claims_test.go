package tokenserver

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/tokenserver/tokenserver/store"
)

// Clients of the profile-claim tests.
const (
	profiledID     = "profiled" // TokenRoles, TokenAttributes department and tenant
	profiledSecret = "profiled-secret-0123456789abcdefghijklmnopqrstuvwxyz"
	rogueID        = "rogue" // TokenAttributes naming registered claims (stored around the CLI)
	rogueSecret    = "rogue-secret-0123456789abcdefghijklmnopqrstuvwxyz"
	ccRolesID      = "cc-roles" // client_credentials with TokenRoles
	ccRolesSecret  = "cc-roles-secret-0123456789abcdefghijklmnopqrstuvwxyz"
)

// newProfileHarness is a harness whose alice has roles and attributes and
// with the clients above.
func newProfileHarness(t *testing.T) *harness {
	t.Helper()
	h := newHarness(t)
	both := []string{grantPassword, grantRefreshToken}
	for _, c := range []store.Client{
		{ID: profiledID, SecretHash: HashClientSecret(profiledSecret), Grants: both, Scopes: []string{"read"},
			TokenRoles: true, TokenAttributes: []string{"department", "tenant"}},
		{ID: rogueID, SecretHash: HashClientSecret(rogueSecret), Grants: both, Scopes: []string{"read"},
			TokenAttributes: []string{"sub", "Scope", "ROLES", "department"}},
		{ID: ccRolesID, SecretHash: HashClientSecret(ccRolesSecret), Grants: []string{grantClientCredentials},
			Scopes: []string{"read"}, TokenRoles: true, TokenAttributes: []string{"department"}},
	} {
		c.CreatedAt = h.clock.Now()
		if err := h.mem.CreateClient(context.Background(), c); err != nil {
			t.Fatal(err)
		}
	}
	h.setProfile(t, []string{"admin", "viewer"}, `{"department":"sales","tenant":{"id":7},"salary":100,
		"sub":"00000000-0000-4000-8000-0000000e7111","Scope":"admin","ROLES":["root"]}`)
	return h
}

func (h *harness) setProfile(t *testing.T, roles []string, attrs string) {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(attrs), &m); err != nil {
		t.Fatal(err)
	}
	p := store.UserProfile{Roles: roles, Attributes: m}
	if err := h.mem.UpdateUserProfile(context.Background(), aliceID, p, h.clock.Now()); err != nil {
		t.Fatal(err)
	}
}

// rawPayload returns an access token's payload as signed.
func (h *harness) rawPayload(t *testing.T, token string) string {
	t.Helper()
	payload, err := h.keys.Verify(token)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	return string(payload)
}

func TestProfileClaimsOnlyAsRegistered(t *testing.T) {
	tests := []struct {
		name      string
		client    string
		secret    string
		wantRoles any
		wantAttrs map[string]any // claims that must be present
		absent    []string       // claims that must be absent
	}{
		{name: "client without permission gets neither", client: webID, secret: webSecret,
			absent: []string{"roles", "department", "tenant", "salary"}},
		{name: "roles and the listed attributes only", client: profiledID, secret: profiledSecret,
			wantRoles: []any{"admin", "viewer"},
			wantAttrs: map[string]any{"department": "sales", "tenant": map[string]any{"id": float64(7)}},
			absent:    []string{"salary", "Scope", "ROLES"}},
		{name: "registered claim names are never overridden", client: rogueID, secret: rogueSecret,
			wantAttrs: map[string]any{"department": "sales", "sub": aliceID, "scope": "read"},
			absent:    []string{"roles", "Scope", "ROLES", "salary"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newProfileHarness(t)
			tok := h.loginAs(tc.client, tc.secret)
			claims := h.claims(tok.AccessToken)
			if !reflect.DeepEqual(claims["roles"], tc.wantRoles) && tc.wantRoles != nil {
				t.Errorf("roles = %#v, want %#v", claims["roles"], tc.wantRoles)
			}
			for k, v := range tc.wantAttrs {
				if !reflect.DeepEqual(claims[k], v) {
					t.Errorf("claim %s = %#v, want %#v", k, claims[k], v)
				}
			}
			for _, k := range tc.absent {
				if v, ok := claims[k]; ok {
					t.Errorf("claim %s = %#v present, want absent", k, v)
				}
			}
			// A duplicate member would let a case-insensitive or
			// last-wins decoder pick the attribute: none may be there.
			raw := strings.ToLower(h.rawPayload(t, tok.AccessToken))
			for _, name := range []string{`"sub":`, `"scope":`, `"roles":`} {
				if n := strings.Count(raw, name); n > 1 {
					t.Errorf("payload has %d members %s (any case): %s", n, name, raw)
				}
			}
			if strings.Contains(raw, "e7111") || strings.Contains(raw, "root") {
				t.Errorf("an attribute with a registered name reached the token: %s", raw)
			}
		})
	}
}

func TestIntrospectionReturnsRoles(t *testing.T) {
	h := newProfileHarness(t)
	withRoles := h.loginAs(profiledID, profiledSecret).AccessToken
	if got := h.introspectAs(webID, webSecret, withRoles)["roles"]; !reflect.DeepEqual(got, []any{"admin", "viewer"}) {
		t.Errorf("introspection roles = %#v, want [admin viewer]", got)
	}
	without := h.loginAs(webID, webSecret).AccessToken
	if got, ok := h.introspectAs(webID, webSecret, without)["roles"]; ok {
		t.Errorf("introspection of a token without roles has roles = %#v", got)
	}
}

// A profile change reaches the next refreshed token: Rotate reads the
// user's current roles. It ends no session (the epoch does not move).
func TestRefreshPicksUpChangedProfile(t *testing.T) {
	h := newProfileHarness(t)
	first := h.loginAs(profiledID, profiledSecret)
	h.setProfile(t, []string{"auditor"}, `{"department":"legal"}`)
	rec := h.token(formBody("grant_type", "refresh_token", "refresh_token", first.RefreshToken),
		withBasic(profiledID, profiledSecret))
	second := h.mustToken(rec)
	claims := h.claims(second.AccessToken)
	if got := claims["roles"]; !reflect.DeepEqual(got, []any{"auditor"}) {
		t.Errorf("refreshed roles = %#v, want [auditor]", got)
	}
	if got := claims["department"]; got != "legal" {
		t.Errorf("refreshed department = %#v, want legal", got)
	}
	if _, ok := claims["tenant"]; ok {
		t.Error("a removed attribute is still in the refreshed token")
	}
	if !h.active(first.AccessToken) {
		t.Error("a profile change revoked the earlier access token")
	}

	// Roles taken away entirely: the claim goes.
	h.setProfile(t, nil, `{}`)
	rec = h.token(formBody("grant_type", "refresh_token", "refresh_token", second.RefreshToken),
		withBasic(profiledID, profiledSecret))
	if v, ok := h.claims(h.mustToken(rec).AccessToken)["roles"]; ok {
		t.Errorf("roles = %#v after every role was removed, want no claim", v)
	}
}

// client_credentials tokens have no user, so no roles or attributes,
// whatever the registration allows.
func TestClientCredentialsHasNoProfileClaims(t *testing.T) {
	h := newProfileHarness(t)
	tok := h.mustToken(h.token(clientCredentialsBody(), withBasic(ccRolesID, ccRolesSecret)))
	claims := h.claims(tok.AccessToken)
	for _, k := range []string{"roles", "department"} {
		if v, ok := claims[k]; ok {
			t.Errorf("client_credentials token has %s = %#v", k, v)
		}
	}
}

func TestCheckTokenAttributes(t *testing.T) {
	tooMany := make([]string, store.MaxAttributes+1)
	for i := range tooMany {
		tooMany[i] = fmt.Sprintf("a%d", i)
	}
	tests := []struct {
		names   []string
		wantErr string // "" for ok
	}{
		{nil, ""},
		{[]string{"department", "tenant_id", "cost-center"}, ""},
		{tooMany[:store.MaxAttributes], ""},
		{tooMany, "at most"},
		{[]string{"sub"}, "registered claim"},
		{[]string{"SUB"}, "registered claim"},
		{[]string{"Roles"}, "registered claim"},
		{[]string{"client_id"}, "registered claim"},
		{[]string{"cnf"}, "registered claim"},
		{[]string{"active"}, "registered claim"},
		{[]string{"username"}, "registered claim"},
		{[]string{"1st"}, "not an attribute name"},
		{[]string{"a.b"}, "not an attribute name"},
		{[]string{""}, "not an attribute name"},
		{[]string{"dept", "dept"}, "twice"},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.names, ",")[:min(40, len(strings.Join(tc.names, ",")))], func(t *testing.T) {
			err := CheckTokenAttributes(tc.names)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("CheckTokenAttributes(%q) = %v, want nil", tc.names, err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("CheckTokenAttributes(%q) = %v, want an error containing %q", tc.names, err, tc.wantErr)
			}
		})
	}
}
