package tokenserver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/tokenserver/tokenserver/store"
)

// Claims from the user's profile. A client registered with TokenRoles gets
// the user's roles as the `roles` claim (RFC 9068 §7.2.1.1, which reuses
// the SCIM attribute of RFC 7643 §4.1.2); a client registered with
// TokenAttributes gets those user attributes as top-level claims of the
// same names. Nothing reaches a token the client was not registered for.

// reservedClaims are the names no attribute may take: the claims this
// server sets or a resource server interprets (RFC 7519 §4.1, RFC 9068
// §2.2 and §2.2.3, RFC 7800 `cnf`, OpenID Connect Core §2 and §5.1's
// identity claims a verifier may trust, RFC 8693 `act`/`may_act`) and the
// members of our introspection answer (RFC 7662 §2.2). Compared
// case-insensitively: encoding/json, which our own introspection and many
// Go verifiers use, matches struct fields case-insensitively, and a later
// "Sub" would override "sub".
var reservedClaims = []string{
	"iss", "sub", "aud", "exp", "nbf", "iat", "jti",
	"client_id", "scope", "sid", "username", "cnf", "azp", "act", "may_act",
	"auth_time", "acr", "amr", "groups", "roles", "entitlements",
	"nonce", "at_hash", "c_hash", "typ", "kid", "alg",
	"active", "token_type", "token_use",
}

// ReservedClaim reports whether name is, in any case, a claim name that a
// user attribute must never take.
func ReservedClaim(name string) bool {
	return slices.Contains(reservedClaims, strings.ToLower(name))
}

// CheckTokenAttributes checks a client's TokenAttributes: each a valid
// attribute name (store.ValidAttributeName), none a registered claim
// (ReservedClaim), no duplicates, at most store.MaxAttributes. The CLI
// and the admin API call it at registration.
func CheckTokenAttributes(names []string) error {
	if len(names) > store.MaxAttributes {
		return fmt.Errorf("%d token attributes, at most %d", len(names), store.MaxAttributes)
	}
	for i, n := range names {
		switch {
		case !store.ValidAttributeName(n):
			return fmt.Errorf("token attribute %q is not an attribute name (a letter, then letters, digits, '_' or '-', at most %d)",
				n, store.MaxAttributeNameBytes)
		case ReservedClaim(n):
			return fmt.Errorf("token attribute %q would override the registered claim %q; rename the attribute",
				n, strings.ToLower(n))
		case slices.Contains(names[:i], n):
			return fmt.Errorf("token attribute %q listed twice", n)
		}
	}
	return nil
}

// profileClaims returns the claims client may see of sess's user profile:
// the roles (nil unless TokenRoles) and the allowed attributes that the user
// has. A reserved name registered around CheckTokenAttributes is skipped,
// so an attribute can never override a registered claim.
func profileClaims(client store.Client, sess session) (roles []string, attrs []attributeClaim) {
	if client.TokenRoles && len(sess.roles) > 0 {
		roles = sess.roles
	}
	for _, name := range client.TokenAttributes {
		v, ok := sess.attributes[name]
		if !ok || ReservedClaim(name) || !store.ValidAttributeName(name) {
			continue
		}
		attrs = append(attrs, attributeClaim{name: name, value: v})
	}
	return roles, attrs
}

// attributeClaim is one user attribute that goes into a token.
type attributeClaim struct {
	name  string
	value json.RawMessage
}

// appendClaims adds attrs as members of the JSON object payload (the
// encoded registered claims). The names are attribute names (letters,
// digits, '_', '-'), so they need no escaping; values are compacted.
func appendClaims(payload []byte, attrs []attributeClaim) ([]byte, error) {
	if len(attrs) == 0 {
		return payload, nil
	}
	if len(payload) < 2 || payload[len(payload)-1] != '}' {
		return nil, fmt.Errorf("tokenserver: encode claims: not an object")
	}
	var b bytes.Buffer
	b.Write(payload[:len(payload)-1])
	for _, a := range attrs {
		if b.Len() > 1 {
			b.WriteByte(',')
		}
		b.WriteByte('"')
		b.WriteString(a.name)
		b.WriteString(`":`)
		if err := json.Compact(&b, a.value); err != nil {
			return nil, fmt.Errorf("tokenserver: encode claims: attribute %q: %w", a.name, err)
		}
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}
