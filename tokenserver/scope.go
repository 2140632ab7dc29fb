package tokenserver

import (
	"slices"
	"strings"
)

// parseScope splits a scope parameter (RFC 6749 §3.3: space-delimited,
// case-sensitive scope tokens of %x21 / %x23-5B / %x5D-7E) into its
// distinct tokens in order. Repeated spaces are tolerated.
func parseScope(scope string) ([]string, error) {
	var tokens []string
	for tok := range strings.SplitSeq(scope, " ") {
		if tok == "" {
			continue
		}
		if !validScopeToken(tok) {
			return nil, newError(CodeInvalidScope, "malformed scope", nil)
		}
		if !slices.Contains(tokens, tok) {
			tokens = append(tokens, tok)
		}
	}
	return tokens, nil
}

// validScopeToken reports whether tok is a non-empty RFC 6749 §3.3
// scope-token.
func validScopeToken(tok string) bool {
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

// subset reports whether every token of want is in have.
func subset(want, have []string) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}

// intersect returns the tokens of a that are also in b, in a's order.
func intersect(a, b []string) []string {
	var out []string
	for _, t := range a {
		if slices.Contains(b, t) {
			out = append(out, t)
		}
	}
	return out
}

func joinScope(tokens []string) string { return strings.Join(tokens, " ") }
