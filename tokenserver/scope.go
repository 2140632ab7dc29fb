package tokenserver

import (
	"slices"
	"strconv"
	"strings"
)

// maxScopeTokens caps the scope tokens of one request. Registered scopes
// are a handful per client, so 128 is generous; without a cap a 64 KiB
// body carries 16,000 tokens and every request costs their parsing and
// checking. A request over the cap is invalid_scope (RFC 6749 §5.2: "The
// requested scope is invalid, unknown, or malformed"; §3.3 lets the server
// fail a request it will not honour with invalid_scope), not
// invalid_request: the parameter is well-formed, its value is what is
// refused.
const maxScopeTokens = 128

// parseScope splits a scope parameter (RFC 6749 §3.3: space-delimited,
// case-sensitive scope tokens of %x21 / %x23-5B / %x5D-7E) into its
// distinct tokens in order. Repeated spaces are tolerated. It costs time
// linear in len(scope), and stops at the maxScopeTokens+1st token.
func parseScope(scope string) ([]string, error) {
	var tokens scopeSet
	n := 0
	for tok := range strings.SplitSeq(scope, " ") {
		if tok == "" {
			continue
		}
		// Counted before deduplication: the cost is in the tokens sent.
		if n++; n > maxScopeTokens {
			return nil, newError(CodeInvalidScope, "too many scope tokens (at most "+strconv.Itoa(maxScopeTokens)+")", nil)
		}
		if !ValidScopeToken(tok) {
			return nil, newError(CodeInvalidScope, "malformed scope", nil)
		}
		tokens.add(tok)
	}
	return tokens.list, nil
}

// ValidScopeToken reports whether tok is a non-empty RFC 6749 §3.3
// scope-token (1*( %x21 / %x23-5B / %x5D-7E )). Exported so that client
// registration (tokenserver client add) accepts exactly the scopes the token
// endpoint can grant.
func ValidScopeToken(tok string) bool {
	if tok == "" {
		return false
	}
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		if c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// subset reports whether every token of want is in have, in time linear in
// len(want) + len(have).
func subset(want, have []string) bool {
	h := newScopeSet(have)
	for _, w := range want {
		if !h.has(w) {
			return false
		}
	}
	return true
}

// intersect returns the tokens of a that are also in b, in a's order, in
// time linear in len(a) + len(b).
func intersect(a, b []string) []string {
	bs := newScopeSet(b)
	var out []string
	for _, t := range a {
		if bs.has(t) {
			out = append(out, t)
		}
	}
	return out
}

func joinScope(tokens []string) string { return strings.Join(tokens, " ") }

// smallScopeSet is the size up to which a scopeSet scans its list instead
// of hashing: for the usual two or three tokens a scan is faster than
// building a map, and at this size it is still a constant cost.
const smallScopeSet = 8

// scopeSet is a list of distinct scope tokens with constant-time
// membership: a map is built once the list outgrows smallScopeSet.
type scopeSet struct {
	list []string
	set  map[string]struct{}
}

// newScopeSet indexes list (which it does not copy or deduplicate).
func newScopeSet(list []string) scopeSet {
	s := scopeSet{list: list}
	if len(list) > smallScopeSet {
		s.index()
	}
	return s
}

func (s *scopeSet) index() {
	s.set = make(map[string]struct{}, len(s.list))
	for _, t := range s.list {
		s.set[t] = struct{}{}
	}
}

func (s *scopeSet) has(tok string) bool {
	if s.set != nil {
		_, ok := s.set[tok]
		return ok
	}
	return slices.Contains(s.list, tok)
}

// add appends tok unless it is present.
func (s *scopeSet) add(tok string) {
	if s.has(tok) {
		return
	}
	s.list = append(s.list, tok)
	switch {
	case s.set != nil:
		s.set[tok] = struct{}{}
	case len(s.list) > smallScopeSet:
		s.index()
	}
}
