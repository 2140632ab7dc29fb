package adminhttp_test

import (
	"net/http"
	"slices"
	"testing"

	"github.com/tokenserver/tokenserver/admin/adminhttp"
)

// The sign-up call carries the user model (email, attributes, roles); PATCH
// changes it without touching credentials; a taken email is 409. Every
// request and response is checked against the OpenAPI document by the
// fixture.
func TestUserProfileThroughTheAPI(t *testing.T) {
	f := newFixture(t)
	tok := f.token(usersID, usersSecret, "admin:users")
	r := f.do("POST", "/admin/v1/users", tok, map[string]any{
		"username": "erin", "password": "erin's long password", "email": "Erin@Example.COM",
		"attributes": map[string]any{"tier": "gold"}, "roles": []string{"reader"},
	})
	if r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	var u struct {
		ID         string         `json:"id"`
		Email      string         `json:"email"`
		Attributes map[string]any `json:"attributes"`
		Roles      []string       `json:"roles"`
	}
	r.decode(t, &u)
	if u.Email != "Erin@example.com" || u.Attributes["tier"] != "gold" || !slices.Equal(u.Roles, []string{"reader"}) {
		t.Fatalf("created %+v; want the profile (domain lower-cased)", u)
	}

	r = f.do("PATCH", "/admin/v1/users/"+u.ID, tok, map[string]any{"roles": []string{"reader", "editor"}})
	if r.status != http.StatusOK {
		t.Fatalf("patch: %d %s", r.status, r.body)
	}
	r.decode(t, &u)
	if !slices.Equal(u.Roles, []string{"editor", "reader"}) || u.Email != "Erin@example.com" || u.Attributes["tier"] != "gold" {
		t.Errorf("after PATCH roles: %+v; want new roles, the rest kept", u)
	}

	// Another user may not take the email (case-insensitively).
	assertProblem(t, f.do("POST", "/admin/v1/users", tok, map[string]any{
		"username": "frank", "password": "frank's long password", "email": "erin@example.com"}),
		http.StatusConflict, adminhttp.TypeExists, "")
}
