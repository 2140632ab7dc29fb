package tokenserver

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/tokenserver/tokenserver/store"
)

func TestAccessTokenClaims(t *testing.T) {
	tests := []struct {
		name    string
		client  store.Client
		wantAud any
		wantTTL time.Duration
	}{
		{name: "server defaults", client: store.Client{ID: "plain", Grants: []string{grantPassword}, Scopes: []string{"read"}},
			wantAud: testIssuer, wantTTL: defaultAccessTokenTTL},
		{name: "client audience and lifetime",
			client: store.Client{ID: "custom", Grants: []string{grantPassword}, Scopes: []string{"read"},
				Audience: []string{"https://api.example.com", "https://files.example.com"}, AccessTokenTTL: time.Minute},
			wantAud: []any{"https://api.example.com", "https://files.example.com"}, wantTTL: time.Minute},
		{name: "one client audience is a string",
			client: store.Client{ID: "single", Grants: []string{grantPassword}, Scopes: []string{"read"},
				Audience: []string{"https://api.example.com"}},
			wantAud: "https://api.example.com", wantTTL: defaultAccessTokenTTL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			if err := h.mem.CreateClient(context.Background(), tt.client); err != nil {
				t.Fatal(err)
			}
			tok := h.mustToken(h.token(loginBody(aliceName, alicePassword), withBasic(tt.client.ID, "")))
			if tok.ExpiresIn != int64(tt.wantTTL/time.Second) {
				t.Errorf("expires_in = %d, want %v", tok.ExpiresIn, tt.wantTTL)
			}
			now := h.clock.Now().Unix()
			c := h.claims(tok.AccessToken)
			want := map[string]any{
				"iss":       testIssuer,
				"sub":       aliceID,
				"aud":       tt.wantAud,
				"exp":       float64(now + int64(tt.wantTTL/time.Second)),
				"iat":       float64(now),
				"nbf":       float64(now),
				"client_id": tt.client.ID,
				"scope":     "read",
				"username":  aliceName,
				"jti":       c["jti"],
			}
			if jti, _ := c["jti"].(string); len(jti) < 22 {
				t.Errorf("jti %q too short to be unique", jti)
			}
			if !reflect.DeepEqual(c, want) {
				t.Errorf("claims\n got %v\nwant %v", c, want)
			}
		})
	}
}

func TestAccessTokenJTIsAreUnique(t *testing.T) {
	h := newHarness(t)
	a, b := h.claims(h.login("").AccessToken), h.claims(h.login("").AccessToken)
	if a["jti"] == b["jti"] || a["sid"] == b["sid"] {
		t.Errorf("jti %v/%v sid %v/%v", a["jti"], b["jti"], a["sid"], b["sid"])
	}
}

func TestPerClientRefreshLifetimes(t *testing.T) {
	h := newHarness(t)
	c := store.Client{ID: "short", Grants: []string{grantPassword, grantRefreshToken}, Scopes: []string{"read"},
		RefreshIdleTTL: time.Hour, RefreshAbsoluteTTL: 2 * time.Hour}
	if err := h.mem.CreateClient(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	tok := h.mustToken(h.token(loginBody(aliceName, alicePassword), withBasic(c.ID, "")))
	rt, fam, err := h.mem.Lookup(context.Background(), hashRefreshToken(tok.RefreshToken))
	if err != nil {
		t.Fatal(err)
	}
	now := h.clock.Now()
	if !rt.IdleExpiresAt.Equal(now.Add(time.Hour)) || !fam.ExpiresAt.Equal(now.Add(2*time.Hour)) {
		t.Errorf("idle %v absolute %v", rt.IdleExpiresAt, fam.ExpiresAt)
	}
}
