package admin

import (
	"strings"

	"github.com/tokenserver/tokenserver/store"
)

// normalizeProfile brings a profile from a request into the form stores
// keep (email with a lower-case domain, roles sorted without duplicates)
// and checks the store's bounds, naming the field that fails.
func normalizeProfile(p store.UserProfile) (store.UserProfile, error) {
	if p.Email != "" {
		email, err := store.NormalizeEmail(strings.TrimSpace(p.Email))
		if err != nil {
			return p, invalid("email", "%v", err)
		}
		p.Email = email
	}
	for _, r := range p.Roles {
		if !store.ValidRole(r) {
			return p, invalid("roles", "invalid role %q", r)
		}
	}
	p.Roles = store.NormalizeRoles(p.Roles)
	if err := store.CheckUserProfile(p); err != nil {
		return p, invalid("profile", "%v", err)
	}
	return p, nil
}
