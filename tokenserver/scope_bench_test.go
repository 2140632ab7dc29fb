package tokenserver

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// scopeTokens returns n distinct scope tokens.
func scopeTokens(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = strconv.FormatInt(int64(i), 36)
	}
	return out
}

// largeScope is the attack of issue item 10: about 60 KB of 15,000
// distinct short tokens, within the 64 KiB body limit.
func largeScope() string { return strings.Join(scopeTokens(15000), " ") }

// BenchmarkScopeParseAndCheckLarge: parse a 60 KB scope and check it
// against a client's scopes, as dispatch does for every grant.
func BenchmarkScopeParseAndCheckLarge(b *testing.B) {
	scope := largeScope()
	allowed := []string{"read", "write", "admin"}
	b.SetBytes(int64(len(scope)))
	for b.Loop() {
		if tokens, err := parseScope(scope); err == nil {
			_ = subset(tokens, allowed)
		}
	}
}

// BenchmarkScopeParseAndCheckAtCap: the largest scope accepted (128
// tokens), all allowed by a client registered for 128 scopes.
func BenchmarkScopeParseAndCheckAtCap(b *testing.B) {
	tokens := scopeTokens(128)
	scope := strings.Join(tokens, " ")
	for b.Loop() {
		got, err := parseScope(scope)
		if err != nil || !subset(got, tokens) {
			b.Fatal("scope at the cap refused")
		}
	}
}

// BenchmarkScopeParseAndCheckTypical: the common case stays cheap.
func BenchmarkScopeParseAndCheckTypical(b *testing.B) {
	allowed := []string{"read", "write", "admin"}
	for b.Loop() {
		got, err := parseScope("read write")
		if err != nil || !subset(got, allowed) {
			b.Fatal("typical scope refused")
		}
	}
}

// BenchmarkTokenLargeScopePublicClient: the whole request of item 10, from
// a public client (no secret to check first).
func BenchmarkTokenLargeScopePublicClient(b *testing.B) {
	h := newHarness(b)
	body := formBody("grant_type", "password", "username", aliceName, "password", alicePassword,
		"client_id", cliID, "scope", largeScope())
	for b.Loop() {
		if rec := h.token(body); rec.Code != http.StatusBadRequest {
			b.Fatalf("status %d", rec.Code)
		}
	}
}
