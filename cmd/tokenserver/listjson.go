package main

import (
	"encoding/json"
	"time"

	"github.com/tokenserver/tokenserver/keys"
	"github.com/tokenserver/tokenserver/store"
)

// The --json forms of `user list`, `client list` and `keys list`: arrays of
// objects whose field names are part of the CLI's interface (scripts parse
// them), so they are spelled here once and never derived from Go names.
// None holds a secret, a password hash or key material: each is built field
// by field from what the table shows.

type userJSON struct {
	Username          string    `json:"username"`
	ID                string    `json:"id"`
	Disabled          bool      `json:"disabled"`
	HashScheme        string    `json:"hash_scheme"` // "argon2id", "2b", ...: the scheme, never the hash
	CreatedAt         time.Time `json:"created_at"`
	PasswordChangedAt time.Time `json:"password_changed_at"`
	Email             *string   `json:"email"` // null when the user has none
	Roles             []string  `json:"roles"`
	// Attributes is the user's attribute object ({} for none).
	Attributes map[string]json.RawMessage `json:"attributes"`
}

func userListJSON(users []store.User) []userJSON {
	out := make([]userJSON, 0, len(users))
	for _, u := range users {
		out = append(out, userJSON{
			Username: u.Username, ID: u.ID, Disabled: u.Disabled, HashScheme: hashScheme(u.PasswordHash),
			CreatedAt: u.CreatedAt.UTC(), PasswordChangedAt: u.PasswordChangedAt.UTC(),
			Email: stringOrNull(u.Email), Roles: nonNil(u.Roles), Attributes: nonNilAttrs(u.Attributes),
		})
	}
	return out
}

type clientJSON struct {
	ClientID string   `json:"client_id"`
	Type     string   `json:"type"` // "confidential" or "public"
	Grants   []string `json:"grants"`
	Scopes   []string `json:"scopes"`
	Audience []string `json:"audience"` // empty: the server's
	// Lifetimes in seconds; 0 means the server's default.
	AccessTokenTTL     int64     `json:"access_token_ttl_seconds"`
	RefreshIdleTTL     int64     `json:"refresh_idle_ttl_seconds"`
	RefreshAbsoluteTTL int64     `json:"refresh_absolute_ttl_seconds"`
	CreatedAt          time.Time `json:"created_at"`
	// What the client's access tokens carry of the user's profile.
	TokenRoles      bool     `json:"token_roles"`
	RequireDPoP     bool     `json:"require_dpop"`
	TokenAttributes []string `json:"token_attributes"`
}

func clientListJSON(clients []store.Client) []clientJSON {
	out := make([]clientJSON, 0, len(clients))
	for _, c := range clients {
		typ := "confidential"
		if c.Public() {
			typ = "public"
		}
		out = append(out, clientJSON{
			ClientID: c.ID, Type: typ,
			Grants: nonNil(c.Grants), Scopes: nonNil(c.Scopes), Audience: nonNil(c.Audience),
			AccessTokenTTL:     int64(c.AccessTokenTTL / time.Second),
			RefreshIdleTTL:     int64(c.RefreshIdleTTL / time.Second),
			RefreshAbsoluteTTL: int64(c.RefreshAbsoluteTTL / time.Second),
			CreatedAt:          c.CreatedAt.UTC(),
			TokenRoles:         c.TokenRoles, TokenAttributes: nonNil(c.TokenAttributes), RequireDPoP: c.RequireDPoP,
		})
	}
	return out
}

type keyJSON struct {
	KID       string `json:"kid"`
	Algorithm string `json:"alg"`
	State     string `json:"state"` // "next", "current" or "retired"
	Signing   bool   `json:"signing"`
	Published bool   `json:"published"`
	// Unset times are null.
	CreatedAt   *time.Time `json:"created_at"`
	ActivatesAt *time.Time `json:"activates_at"`
	RetiredAt   *time.Time `json:"retired_at"`
	RemoveAt    *time.Time `json:"remove_at"`
}

func keyListJSON(list []keys.KeyInfo) []keyJSON {
	out := make([]keyJSON, 0, len(list))
	for _, k := range list {
		out = append(out, keyJSON{
			KID: k.ID, Algorithm: k.Algorithm, State: string(k.State), Signing: k.Signing, Published: k.Published,
			CreatedAt: timeOrNull(k.CreatedAt), ActivatesAt: timeOrNull(k.ActivatesAt),
			RetiredAt: timeOrNull(k.RetiredAt), RemoveAt: timeOrNull(k.RemoveAt),
		})
	}
	return out
}

// nonNil makes an empty list [] in JSON rather than null.
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func stringOrNull(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func nonNilAttrs(m map[string]json.RawMessage) map[string]json.RawMessage {
	if m == nil {
		return map[string]json.RawMessage{}
	}
	return m
}

func timeOrNull(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}
