package adminhttp_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/tokenserver/tokenserver/admin/adminhttp"
)

// Every error path: status, problem type, field and headers; nothing changes.
func TestErrorPaths(t *testing.T) {
	const users = "/admin/v1/users"
	for _, tc := range []struct {
		name        string
		method      string
		path        string
		token       string // "admin", "users", "keys", "user" (a user's token), "bad", "" (none)
		auth        string // a raw Authorization header instead of token
		contentType string
		body        string
		badRequest  bool // the OpenAPI document refuses the request too
		status      int
		typ         string
		field       string
		challenge   string // substring of WWW-Authenticate
	}{
		{name: "NoToken", method: "GET", path: users, status: 401, typ: adminhttp.TypeUnauthorized,
			challenge: `Bearer realm="tokenserver-admin"`},
		{name: "OtherScheme", method: "GET", path: users, auth: "Basic b3BzOng=", badRequest: true, status: 401,
			typ: adminhttp.TypeUnauthorized, challenge: `Bearer realm="tokenserver-admin"`},
		{name: "GarbageToken", method: "GET", path: users, token: "bad", status: 401, typ: adminhttp.TypeUnauthorized,
			challenge: `error="invalid_token"`},
		{name: "EmptyBearer", method: "GET", path: users, auth: "Bearer ", badRequest: true, status: 400,
			typ: adminhttp.TypeMalformed, challenge: `error="invalid_request"`},
		{name: "WrongAreaScope", method: "GET", path: "/admin/v1/clients", token: "users", status: 403,
			typ: adminhttp.TypeForbidden, challenge: `error="insufficient_scope"`},
		{name: "KeysScopeOnUsers", method: "GET", path: users, token: "keys", status: 403,
			typ: adminhttp.TypeForbidden, challenge: `scope="admin:users"`},
		{name: "UserTokenWithAdminScope", method: "GET", path: users, token: "user", status: 403,
			typ: adminhttp.TypeForbidden, challenge: `error="insufficient_scope"`},
		{name: "WrongContentType", method: "POST", path: users, token: "admin", contentType: "text/plain",
			body: `{"username":"x","password":"y"}`, badRequest: true, status: 415, typ: adminhttp.TypeUnsupportedMedia},
		{name: "NotJSON", method: "POST", path: users, token: "admin", contentType: "application/json",
			body: `{"username":`, badRequest: true, status: 400, typ: adminhttp.TypeMalformed},
		{name: "EmptyBody", method: "POST", path: users, token: "admin", contentType: "application/json",
			badRequest: true, status: 400, typ: adminhttp.TypeMalformed},
		{name: "TrailingData", method: "POST", path: users, token: "admin", contentType: "application/json",
			body: `{"username":"x","password":"long password"} {}`, badRequest: true, status: 400, typ: adminhttp.TypeMalformed},
		{name: "UnknownField", method: "POST", path: users, token: "admin", contentType: "application/json",
			body: `{"username":"x","password":"long password","admin":true}`, badRequest: true, status: 422,
			typ: adminhttp.TypeValidation, field: "admin"},
		{name: "WrongType", method: "POST", path: users, token: "admin", contentType: "application/json",
			body: `{"username":7,"password":"long password"}`, badRequest: true, status: 422,
			typ: adminhttp.TypeValidation, field: "username"},
		{name: "TooLarge", method: "POST", path: users, token: "admin", contentType: "application/json",
			body: `{"username":"x","password":"` + strings.Repeat("a", adminhttp.MaxBodyBytes) + `"}`, badRequest: true,
			status: 413, typ: adminhttp.TypeTooLarge},
		{name: "InvalidUsername", method: "POST", path: users, token: "admin", contentType: "application/json",
			body: `{"username":"a\u0000b","password":"long password"}`, status: 422, typ: adminhttp.TypeValidation, field: "username"},
		{name: "PasswordTooLong", method: "POST", path: users, token: "admin", contentType: "application/json",
			body: `{"username":"dave","password":"` + strings.Repeat("p", 1100) + `"}`, badRequest: true, status: 422,
			typ: adminhttp.TypeValidation, field: "password"},
		{name: "EmptyPassword", method: "POST", path: users, token: "admin", contentType: "application/json",
			body: `{"username":"dave","password":""}`, badRequest: true, status: 422, typ: adminhttp.TypeValidation, field: "password"},
		{name: "PasswordTooShort", method: "POST", path: users, token: "admin", contentType: "application/json",
			body: `{"username":"dave","password":"short"}`, status: 422, typ: adminhttp.TypeValidation, field: "password"},
		{name: "InvalidEmail", method: "POST", path: users, token: "admin", contentType: "application/json",
			body: `{"username":"dave","password":"long password","email":"not an address"}`, status: 422,
			typ: adminhttp.TypeValidation, field: "email"},
		{name: "TooManyRoles", method: "POST", path: users, token: "admin", contentType: "application/json",
			body:       `{"username":"dave","password":"long password","roles":[` + manyRoles(40) + `]}`,
			badRequest: true, status: 422, typ: adminhttp.TypeValidation, field: "profile"},
		{name: "PatchUnknownUser", method: "PATCH", path: users + "/00000000-0000-4000-8000-000000000999", token: "admin",
			contentType: "application/json", body: `{"roles":["x"]}`, status: 404, typ: adminhttp.TypeNotFound},
		{name: "PatchUnknownField", method: "PATCH", path: users + "/00000000-0000-4000-8000-000000000999", token: "admin",
			contentType: "application/json", body: `{"username":"x"}`, badRequest: true, status: 422,
			typ: adminhttp.TypeValidation, field: "username"},
		{name: "PatchNeedsUsersScope", method: "PATCH", path: users + "/00000000-0000-4000-8000-000000000999", token: "keys",
			contentType: "application/json", body: `{"roles":["x"]}`, status: 403, typ: adminhttp.TypeForbidden,
			challenge: `scope="admin:users"`},
		{name: "UsernameExists", method: "POST", path: users, token: "admin", contentType: "application/json",
			body: `{"username":"ALICE","password":"long password"}`, status: 409, typ: adminhttp.TypeExists},
		{name: "LimitTooLarge", method: "GET", path: users + "?limit=501", token: "admin", badRequest: true, status: 422,
			typ: adminhttp.TypeValidation, field: "limit"},
		{name: "LimitNotANumber", method: "GET", path: users + "?limit=x", token: "admin", badRequest: true, status: 422,
			typ: adminhttp.TypeValidation, field: "limit"},
		{name: "UnknownUser", method: "GET", path: users + "/00000000-0000-4000-8000-000000000099", token: "admin",
			status: 404, typ: adminhttp.TypeNotFound},
		{name: "UnknownUserSessions", method: "GET", path: users + "/nope/sessions", token: "admin", status: 404, typ: adminhttp.TypeNotFound},
		{name: "UnknownUserPassword", method: "PUT", path: users + "/nope/password", token: "admin", contentType: "application/json",
			body: `{"password":"long password"}`, status: 404, typ: adminhttp.TypeNotFound},
		{name: "UnknownUserDisable", method: "POST", path: users + "/00000000-0000-4000-8000-000000000099/disable", token: "admin",
			status: 404, typ: adminhttp.TypeNotFound},
		{name: "UnknownRoute", method: "GET", path: "/admin/v1/nothing", token: "admin", badRequest: true, status: 404, typ: adminhttp.TypeNotFound},
		{name: "UnsupportedGrant", method: "POST", path: "/admin/v1/clients", token: "admin", contentType: "application/json",
			body: `{"id":"x","grants":["implicit"]}`, badRequest: true, status: 422, typ: adminhttp.TypeValidation, field: "grants"},
		{name: "PublicClientCredentials", method: "POST", path: "/admin/v1/clients", token: "admin", contentType: "application/json",
			body: `{"id":"x","public":true,"grants":["client_credentials"]}`, status: 422, typ: adminhttp.TypeValidation, field: "grants"},
		{name: "BadScope", method: "POST", path: "/admin/v1/clients", token: "admin", contentType: "application/json",
			body: `{"id":"x","scopes":["a b"]}`, status: 422, typ: adminhttp.TypeValidation, field: "scopes"},
		{name: "NegativeTTL", method: "POST", path: "/admin/v1/clients", token: "admin", contentType: "application/json",
			body: `{"id":"x","access_token_ttl":-1}`, badRequest: true, status: 422, typ: adminhttp.TypeValidation, field: "access_token_ttl"},
		{name: "ClientExists", method: "POST", path: "/admin/v1/clients", token: "admin", contentType: "application/json",
			body: `{"id":"app"}`, status: 409, typ: adminhttp.TypeExists},
		{name: "UpdateUnknownClient", method: "PUT", path: "/admin/v1/clients/nope", token: "admin", contentType: "application/json",
			body: `{}`, status: 404, typ: adminhttp.TypeNotFound},
		{name: "RotateOverlapTooLong", method: "POST", path: "/admin/v1/clients/app/secret", token: "admin", contentType: "application/json",
			body: `{"overlap_seconds":2592001}`, badRequest: true, status: 422, typ: adminhttp.TypeValidation, field: "overlap_seconds"},
		{name: "RotateUnknownClient", method: "POST", path: "/admin/v1/clients/nope/secret", token: "admin", contentType: "application/json",
			body: `{}`, status: 404, typ: adminhttp.TypeNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			before := snapshot(t, f)
			tok := map[string]func() string{
				"admin": func() string { return f.token(adminID, adminSecret, "admin") },
				"users": func() string { return f.token(usersID, usersSecret, "admin:users") },
				"keys":  func() string { return f.token(keysID, keysSecret, "admin:keys") },
				"user":  func() string { return f.token(appID, appSecret, "admin", aliceName, alicePassword) },
				"bad":   func() string { return "not.a.token" },
				"":      func() string { return "" },
			}[tc.token]()
			r := f.callRaw(tc.method, tc.path, tok, tc.auth, tc.contentType, []byte(tc.body), tc.badRequest)
			assertProblem(t, r, tc.status, tc.typ, tc.field)
			if got := r.header.Get("WWW-Authenticate"); !strings.Contains(got, tc.challenge) {
				t.Errorf("WWW-Authenticate %q, want it to contain %q", got, tc.challenge)
			}
			if tc.token != "user" { // the user's login made a session on purpose
				if after := snapshot(t, f); after != before {
					t.Errorf("state changed:\n%s\n%s", before, after)
				}
			}
		})
	}
}

// snapshot summarises the users and clients, to see that a refused request
// changed nothing.
func snapshot(t *testing.T, f *fixture) string {
	t.Helper()
	var b strings.Builder
	us, err := f.mem.ListUsers(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range us {
		b.WriteString(u.Username + "/" + u.PasswordHash + "/" + u.UpdatedAt.String() + ";")
	}
	cs, err := f.mem.ListClients(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		b.WriteString(c.ID + "/" + c.SecretHash + "/" + strings.Join(c.Scopes, ",") + ";")
	}
	return b.String()
}

// manyRoles is a JSON list of n distinct roles.
func manyRoles(n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%q", fmt.Sprintf("role-%d", i))
	}
	return b.String()
}
