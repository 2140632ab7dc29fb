package store

import (
	"strings"
	"time"
)

// The pure rules every backend and the verifier share, so that memory,
// Redis, PostgreSQL (which states them in SQL, proved equal by the
// conformance suites) and resource servers cannot disagree.

// ScopeWithin reports whether every requested scope token is one of the
// space-separated tokens of granted (RFC 6749 §6: a refresh MUST NOT widen
// the grant). An empty string is never a token; a nil request (no scope
// parameter) is always within. Linear in the sizes of both.
func ScopeWithin(requested []string, granted string) bool {
	if len(requested) == 0 {
		return true
	}
	have := make(map[string]struct{}, strings.Count(granted, " ")+1)
	for _, g := range strings.Fields(granted) {
		have[g] = struct{}{}
	}
	for _, r := range requested {
		if _, ok := have[r]; !ok || r == "" {
			return false
		}
	}
	return true
}

// MergeRevocations combines two entries of the same kind and value: the
// later NotBefore and the later ExpiresAt win and the earlier CreatedAt
// stays, so merging is commutative, associative and idempotent — copies
// that receive the same entries in any order, any number of times, agree.
func MergeRevocations(cur, next Revocation) Revocation {
	out := cur
	if next.NotBefore.After(out.NotBefore) {
		out.NotBefore = next.NotBefore
	}
	if next.ExpiresAt.After(out.ExpiresAt) {
		out.ExpiresAt = next.ExpiresAt
	}
	if out.CreatedAt.IsZero() || (!next.CreatedAt.IsZero() && next.CreatedAt.Before(out.CreatedAt)) {
		out.CreatedAt = next.CreatedAt
	}
	return out
}

// Matches reports whether the entry r, still unexpired at now, denies the
// token q: a jti, sid or kid entry matches its value; a sub entry matches tokens
// of its subject issued at or before NotBefore, compared in whole seconds
// because iat is a NumericDate (RFC 7519 §2).
func (r Revocation) Matches(q RevocationQuery, now time.Time) bool {
	if !now.Before(r.ExpiresAt) || r.Value == "" {
		return false
	}
	switch r.Kind {
	case RevokeJTI:
		return q.JTI == r.Value
	case RevokeSID:
		return q.SID == r.Value
	case RevokeKID:
		return q.KID == r.Value
	case RevokeSub:
		return q.Sub == r.Value && q.IssuedAt.Unix() <= r.NotBefore.Unix()
	}
	return false
}

// IsUUID reports whether s is a UUID in the canonical 8-4-4-4-12
// hexadecimal form, in either case: the only form a user ID (and so a
// user's `sub`) takes.
func IsUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}
