package storetest

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tokenserver/tokenserver/store"
)

// The user profile (Email, Attributes, Roles) and the clients' permission
// to put it in tokens: cases of TestUserStore, TestClientStore and
// TestRefreshTokenStore.

// suiteAttrString prints attributes in key order.
func suiteAttrString(attrs map[string]json.RawMessage) string {
	keys := make([]string, 0, len(attrs))
	for k := range attrs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%s ", k, attrs[k])
	}
	return b.String()
}

// suiteAttrs builds attributes from name, JSON pairs.
func suiteAttrs(kv ...string) map[string]json.RawMessage {
	m := make(map[string]json.RawMessage, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = json.RawMessage(kv[i+1])
	}
	return m
}

// suiteProfileUser is suiteUser with a profile.
func suiteProfileUser(t testing.TB, username, email string, roles ...string) store.User {
	u := suiteUser(t, username)
	u.Email = email
	u.Roles = roles
	return u
}

// testUserProfile is the profile part of TestUserStore.
func testUserProfile(t *testing.T, newStore func(*testing.T) store.UserStore) {
	t.Run("ProfileRoundTrip", func(t *testing.T) {
		s := newStore(t)
		want := suiteProfileUser(t, "alice", "Alice.Smith@example.com", "admin", "billing:read")
		// Values as a caller may spell them; the store keeps them compact.
		want.Attributes = suiteAttrs("department", `"sales"`, "level", `3`, "tags", `[ "a", "b" ]`,
			"nested", `{"x": {"y": [1, 2.5, true, null]}}`, "unicode", `"Zoë ✓"`)
		suiteCheckErr(t, "CreateUser", s.CreateUser(t.Context(), want), nil)
		want.Attributes = suiteAttrs("department", `"sales"`, "level", `3`, "tags", `["a","b"]`,
			"nested", `{"x":{"y":[1,2.5,true,null]}}`, "unicode", `"Zoë ✓"`)
		if d := suiteUserDiff(suiteGetUser(t, s, want.ID), want); d != "" {
			t.Errorf("UserByID: %s", d)
		}
		for _, email := range []string{"Alice.Smith@example.com", "alice.smith@EXAMPLE.com", "ALICE.SMITH@EXAMPLE.COM"} {
			got, err := s.UserByEmail(t.Context(), email)
			suiteCheckErr(t, "UserByEmail("+email+")", err, nil)
			if d := suiteUserDiff(got, want); d != "" {
				t.Errorf("UserByEmail(%q): %s", email, d)
			}
		}
		list, err := s.ListUsers(t.Context())
		suiteCheckErr(t, "ListUsers", err, nil)
		if len(list) != 1 {
			t.Fatalf("ListUsers: %d users, want 1", len(list))
		}
		if d := suiteUserDiff(list[0], want); d != "" {
			t.Errorf("ListUsers: %s", d)
		}
	})

	t.Run("ProfileEmptyIsNil", func(t *testing.T) {
		s := newStore(t)
		u := suiteUser(t, "alice")
		u.Roles, u.Attributes = []string{}, map[string]json.RawMessage{}
		suiteCheckErr(t, "CreateUser", s.CreateUser(t.Context(), u), nil)
		got := suiteGetUser(t, s, u.ID)
		if got.Email != "" || got.Roles != nil || got.Attributes != nil {
			t.Errorf("empty profile read back as email %q roles %#v attributes %#v, want \"\", nil, nil",
				got.Email, got.Roles, got.Attributes)
		}
		_, err := s.UserByEmail(t.Context(), "")
		suiteCheckErr(t, `UserByEmail("")`, err, store.ErrNotFound)
	})

	t.Run("NoAliasing", func(t *testing.T) {
		s := newStore(t)
		u := suiteProfileUser(t, "alice", "alice@example.com", "admin")
		u.Attributes = suiteAttrs("department", `"sales"`)
		suiteCheckErr(t, "CreateUser", s.CreateUser(t.Context(), u), nil)
		u.Roles[0] = "root"
		u.Attributes["department"][1] = 'X'
		got := suiteGetUser(t, s, u.ID)
		got.Roles[0] = "root"
		got.Attributes["department"] = json.RawMessage(`"hacked"`)
		again := suiteGetUser(t, s, u.ID)
		if !slices.Equal(again.Roles, []string{"admin"}) || string(again.Attributes["department"]) != `"sales"` {
			t.Errorf("stored profile changed through a caller's slice or map: %s", suiteUserString(again))
		}
	})

	t.Run("EmailConflictCaseInsensitive", func(t *testing.T) {
		for _, second := range []string{"alice@example.com", "ALICE@example.com", "Alice@example.com"} {
			t.Run(second, func(t *testing.T) {
				s := newStore(t)
				first := suiteProfileUser(t, "alice", "alice@example.com")
				suiteCheckErr(t, "CreateUser(first)", s.CreateUser(t.Context(), first), nil)
				dup := suiteProfileUser(t, "bob", second)
				suiteCheckErr(t, "CreateUser(same email)", s.CreateUser(t.Context(), dup), store.ErrConflict)
				_, err := s.UserByID(t.Context(), dup.ID)
				suiteCheckErr(t, "UserByID(refused user)", err, store.ErrNotFound)

				bob := suiteCreateUser(t, s, "bob")
				err = s.UpdateUserProfile(t.Context(), bob.ID, store.UserProfile{Email: second}, suiteNow())
				suiteCheckErr(t, "UpdateUserProfile(same email)", err, store.ErrConflict)
				if d := suiteUserDiff(suiteGetUser(t, s, bob.ID), bob); d != "" {
					t.Errorf("refused update changed the user: %s", d)
				}
				if d := suiteUserDiff(suiteGetUser(t, s, first.ID), first); d != "" {
					t.Errorf("email owner changed: %s", d)
				}
			})
		}
	})

	t.Run("NoEmailNeverConflicts", func(t *testing.T) {
		s := newStore(t)
		for _, name := range []string{"alice", "bob", "carol"} {
			suiteCreateUser(t, s, name)
		}
		dave := suiteCreateUser(t, s, "dave")
		// Clearing an email leaves many users without one, too.
		erin := suiteProfileUser(t, "erin", "erin@example.com")
		suiteCheckErr(t, "CreateUser(erin)", s.CreateUser(t.Context(), erin), nil)
		suiteCheckErr(t, "UpdateUserProfile(clear email)",
			s.UpdateUserProfile(t.Context(), erin.ID, store.UserProfile{}, suiteNow()), nil)
		suiteCheckErr(t, "UpdateUserProfile(dave, no email)",
			s.UpdateUserProfile(t.Context(), dave.ID, store.UserProfile{Roles: []string{"x"}}, suiteNow()), nil)
		_, err := s.UserByEmail(t.Context(), "erin@example.com")
		suiteCheckErr(t, "UserByEmail(cleared)", err, store.ErrNotFound)
		// The cleared address is free again.
		suiteCheckErr(t, "UpdateUserProfile(dave takes erin's old email)",
			s.UpdateUserProfile(t.Context(), dave.ID, store.UserProfile{Email: "erin@example.com"}, suiteNow()), nil)
	})

	t.Run("UpdateProfile", func(t *testing.T) {
		s := newStore(t)
		u := suiteProfileUser(t, "alice", "alice@example.com", "viewer")
		u.Attributes = suiteAttrs("department", `"sales"`)
		suiteCheckErr(t, "CreateUser", s.CreateUser(t.Context(), u), nil)
		// A credential change first, so the epoch is not zero.
		suiteCheckErr(t, "SetPassword", s.SetPassword(t.Context(), u.ID, u.PasswordHash, suiteNow()), nil)
		before := suiteGetUser(t, s, u.ID)

		at := suiteNow().Add(time.Minute)
		p := store.UserProfile{Email: "a.smith@example.org", Roles: []string{"admin", "editor"},
			Attributes: suiteAttrs("tenant", `"t1"`)}
		suiteCheckErr(t, "UpdateUserProfile", s.UpdateUserProfile(t.Context(), u.ID, p, at), nil)
		want := before
		want.Email, want.Roles, want.Attributes, want.UpdatedAt = p.Email, p.Roles, p.Attributes, at
		got := suiteGetUser(t, s, u.ID)
		if d := suiteUserDiff(got, want); d != "" {
			t.Errorf("after UpdateUserProfile: %s", d)
		}
		if got.CredentialEpoch != before.CredentialEpoch {
			t.Errorf("CredentialEpoch = %d, want %d: a profile change must end no session", got.CredentialEpoch, before.CredentialEpoch)
		}
		_, err := s.UserByEmail(t.Context(), "alice@example.com")
		suiteCheckErr(t, "UserByEmail(old email)", err, store.ErrNotFound)
		// Keeping one's own email (in another case) is no conflict.
		p.Email = "A.Smith@example.org"
		suiteCheckErr(t, "UpdateUserProfile(own email, other case)", s.UpdateUserProfile(t.Context(), u.ID, p, at), nil)
		if got := suiteGetUser(t, s, u.ID); got.Email != p.Email {
			t.Errorf("Email = %q, want %q", got.Email, p.Email)
		}
	})

	t.Run("UpdateProfileNotFound", func(t *testing.T) {
		s := newStore(t)
		err := s.UpdateUserProfile(t.Context(), suiteUUID(t), store.UserProfile{Email: "x@example.com"}, suiteNow())
		suiteCheckErr(t, "UpdateUserProfile(unknown)", err, store.ErrNotFound)
		_, err = s.UserByEmail(t.Context(), "x@example.com")
		suiteCheckErr(t, "UserByEmail", err, store.ErrNotFound)
	})

	t.Run("DeleteFreesEmail", func(t *testing.T) {
		s := newStore(t)
		u := suiteProfileUser(t, "alice", "alice@example.com")
		suiteCheckErr(t, "CreateUser", s.CreateUser(t.Context(), u), nil)
		suiteCheckErr(t, "DeleteUser", s.DeleteUser(t.Context(), u.ID), nil)
		suiteCheckErr(t, "CreateUser(same email)", s.CreateUser(t.Context(), suiteProfileUser(t, "bob", "alice@example.com")), nil)
	})

	t.Run("ProfileBoundsRefused", func(t *testing.T) {
		many := func(n int, f func(i int) string) []string {
			out := make([]string, n)
			for i := range out {
				out[i] = f(i)
			}
			return out
		}
		manyAttrs := func(n int) map[string]json.RawMessage {
			m := map[string]json.RawMessage{}
			for i := range n {
				m[fmt.Sprintf("a%02d", i)] = json.RawMessage(`1`)
			}
			return m
		}
		big := `"` + strings.Repeat("x", store.MaxAttributesBytes) + `"`
		cases := []struct {
			name string
			p    store.UserProfile
		}{
			{"EmailNotAnAddress", store.UserProfile{Email: "not-an-email"}},
			{"EmailWithName", store.UserProfile{Email: "Alice <alice@example.com>"}},
			{"EmailUpperDomain", store.UserProfile{Email: "alice@EXAMPLE.com"}},
			{"EmailTooLong", store.UserProfile{Email: strings.Repeat("a", 250) + "@example.com"}},
			{"EmailNotASCII", store.UserProfile{Email: "zoë@example.com"}},
			{"EmailNUL", store.UserProfile{Email: "a\x00@example.com"}},
			{"TooManyRoles", store.UserProfile{Roles: many(store.MaxRoles+1, func(i int) string { return fmt.Sprintf("r%02d", i) })}},
			{"RoleWithSpace", store.UserProfile{Roles: []string{"a b"}}},
			{"RoleEmpty", store.UserProfile{Roles: []string{""}}},
			{"RoleTooLong", store.UserProfile{Roles: []string{strings.Repeat("r", store.MaxRoleBytes+1)}}},
			{"RoleNotASCII", store.UserProfile{Roles: []string{"ädmin"}}},
			{"RolesDuplicate", store.UserProfile{Roles: []string{"a", "a"}}},
			{"RolesUnsorted", store.UserProfile{Roles: []string{"b", "a"}}},
			{"TooManyAttributes", store.UserProfile{Attributes: manyAttrs(store.MaxAttributes + 1)}},
			{"AttributesTooBig", store.UserProfile{Attributes: suiteAttrs("blob", big)}},
			{"AttributeNameDigitFirst", store.UserProfile{Attributes: suiteAttrs("1a", `1`)}},
			{"AttributeNameDot", store.UserProfile{Attributes: suiteAttrs("a.b", `1`)}},
			{"AttributeNameEmpty", store.UserProfile{Attributes: suiteAttrs("", `1`)}},
			{"AttributeNotJSON", store.UserProfile{Attributes: suiteAttrs("a", `{`)}},
			{"AttributeTwoValues", store.UserProfile{Attributes: suiteAttrs("a", `1 2`)}},
			{"AttributeNUL", store.UserProfile{Attributes: suiteAttrs("a", `"\u0000"`)}},
			{"AttributeNotUTF8", store.UserProfile{Attributes: suiteAttrs("a", "\"\xff\"")}},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				s := newStore(t)
				u := suiteUser(t, "alice")
				u.Email, u.Attributes, u.Roles = tc.p.Email, tc.p.Attributes, tc.p.Roles
				suiteCheckErr(t, "CreateUser", s.CreateUser(t.Context(), u), store.ErrInvalidProfile)
				_, err := s.UserByName(t.Context(), "alice")
				suiteCheckErr(t, "UserByName(refused user)", err, store.ErrNotFound)

				bob := suiteCreateUser(t, s, "bob")
				suiteCheckErr(t, "UpdateUserProfile", s.UpdateUserProfile(t.Context(), bob.ID, tc.p, suiteNow()), store.ErrInvalidProfile)
				if d := suiteUserDiff(suiteGetUser(t, s, bob.ID), bob); d != "" {
					t.Errorf("refused update changed the user: %s", d)
				}
			})
		}
	})

	t.Run("ProfileAtBounds", func(t *testing.T) {
		s := newStore(t)
		u := suiteUser(t, "alice")
		for i := range store.MaxRoles {
			u.Roles = append(u.Roles, fmt.Sprintf("role-%02d:%s", i, strings.Repeat("x", store.MaxRoleBytes-8)))
		}
		u.Attributes = map[string]json.RawMessage{}
		for i := range store.MaxAttributes - 1 {
			u.Attributes[fmt.Sprintf("a%02d", i)] = json.RawMessage(`1`)
		}
		size, _ := store.AttributesSize(u.Attributes)
		// {..., "zz":"xxx"}: one comma, the quoted name, a colon, the quoted value.
		u.Attributes["zz"] = json.RawMessage(`"` + strings.Repeat("x", store.MaxAttributesBytes-size-8) + `"`)
		if n, _ := store.AttributesSize(u.Attributes); n != store.MaxAttributesBytes {
			t.Fatalf("test setup: attributes are %d bytes, want exactly %d", n, store.MaxAttributesBytes)
		}
		u.Email = strings.Repeat("a", store.MaxEmailBytes-len("@example.com")) + "@example.com"
		suiteCheckErr(t, "CreateUser(at every bound)", s.CreateUser(t.Context(), u), nil)
		if d := suiteUserDiff(suiteGetUser(t, s, u.ID), u); d != "" {
			t.Errorf("UserByID: %s", d)
		}
	})
}

// testClientTokenClaims is the TokenRoles/TokenAttributes part of
// TestClientStore.
func testClientTokenClaims(t *testing.T, newStore func(*testing.T) store.ClientStore) {
	t.Run("TokenClaimsRoundTrip", func(t *testing.T) {
		for _, tc := range []struct {
			name  string
			roles bool
			attrs []string
		}{
			{"None", false, nil},
			{"RolesOnly", true, nil},
			{"Both", true, []string{"department", "tenant"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				s := newStore(t)
				c := suiteClient(t, "web-app")
				c.TokenRoles, c.TokenAttributes = tc.roles, tc.attrs
				suiteCreateClient(t, s, c)
				got, err := s.ClientByID(t.Context(), c.ID)
				suiteCheckErr(t, "ClientByID", err, nil)
				if got.TokenRoles != tc.roles || !slices.Equal(got.TokenAttributes, tc.attrs) {
					t.Errorf("TokenRoles, TokenAttributes = %v, %#v; want %v, %#v",
						got.TokenRoles, got.TokenAttributes, tc.roles, tc.attrs)
				}
				list, err := s.ListClients(t.Context())
				suiteCheckErr(t, "ListClients", err, nil)
				if len(list) != 1 || list[0].TokenRoles != tc.roles || !slices.Equal(list[0].TokenAttributes, tc.attrs) {
					t.Errorf("ListClients: %+v", list)
				}
			})
		}
	})
}

// testRotateProfile is the profile part of TestRefreshTokenStore: Rotate
// returns the user's roles and attributes as they are at the rotation.
func testRotateProfile(t *testing.T, newStores func(*testing.T) RefreshStores) {
	t.Run("RotateReturnsCurrentProfile", func(t *testing.T) {
		for _, leeway := range []bool{false, true} {
			t.Run(fmt.Sprintf("leewayRetry=%v", leeway), func(t *testing.T) {
				fx := newRefreshFixture(t, newStores)
				_, tok := fx.family(t)
				at := fx.start.Add(time.Minute)
				req := fx.rotateReq(t, tok.Hash, fx.client.ID, at, time.Minute)
				f, err := fx.Refresh.Rotate(t.Context(), req)
				suiteCheckErr(t, "Rotate", err, nil)
				if f.UserRoles != nil || f.UserAttributes != nil {
					t.Errorf("user without profile: Rotate returned roles %#v attributes %#v, want nil", f.UserRoles, f.UserAttributes)
				}

				p := store.UserProfile{Roles: []string{"admin", "auditor"}, Attributes: suiteAttrs("tenant", `"t1"`, "level", `[1, 2]`)}
				suiteCheckErr(t, "UpdateUserProfile", fx.Users.UpdateUserProfile(t.Context(), fx.user.ID, p, at), nil)
				presented := req.New.Hash
				if leeway {
					// A retry of the first token within the leeway takes
					// the slow path, which must return the profile too.
					presented = tok.Hash
				}
				req = fx.rotateReq(t, presented, fx.client.ID, at.Add(time.Second), time.Minute)
				f, err = fx.Refresh.Rotate(t.Context(), req)
				suiteCheckErr(t, "Rotate after the profile change", err, nil)
				if !slices.Equal(f.UserRoles, p.Roles) {
					t.Errorf("UserRoles = %#v, want %#v", f.UserRoles, p.Roles)
				}
				if got, want := suiteAttrString(f.UserAttributes), suiteAttrString(suiteAttrs("tenant", `"t1"`, "level", `[1,2]`)); got != want {
					t.Errorf("UserAttributes = %s, want %s", got, want)
				}
				// The profile change ended no session: the new token rotates.
				fx.rotate(t, req.New.Hash, at.Add(2*time.Second), 0, nil)
			})
		}
	})
}
