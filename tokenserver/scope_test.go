package tokenserver

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/tokenserver/tokenserver/store"
)

// bigID is a public client registered for every token of largeScope, so
// that only the cap, not the client's registration, refuses a long scope.
const bigID = "big"

func withBigClient(h *harness, _ *Config) {
	err := h.mem.CreateClient(context.Background(), store.Client{ID: bigID,
		Grants: []string{grantPassword, grantRefreshToken}, Scopes: scopeTokens(15000), CreatedAt: h.clock.Now()})
	if err != nil {
		h.t.Fatal(err)
	}
}

// A scope of more than maxScopeTokens tokens is invalid_scope (RFC 6749
// §5.2, §3.3) on every grant, before any password work; up to the cap it
// is accepted.
func TestScopeTokenCap(t *testing.T) {
	atCap := strings.Join(scopeTokens(maxScopeTokens), " ")
	overCap := strings.Join(scopeTokens(maxScopeTokens+1), " ")
	login := func(client, scope string) string {
		return formBody("grant_type", "password", "username", aliceName, "password", alicePassword,
			"client_id", client, "scope", scope)
	}
	tests := []struct {
		name       string
		body       string
		wantStatus int
	}{
		{"at the cap", login(bigID, atCap), http.StatusOK},
		{"at the cap with extra spaces", login(bigID, "  "+strings.ReplaceAll(atCap, " ", "   ")+" "), http.StatusOK},
		{"one over the cap", login(bigID, overCap), http.StatusBadRequest},
		{"over the cap by repeating one allowed token", login(cliID, strings.Repeat("read ", maxScopeTokens+1)), http.StatusBadRequest},
		{"60 KB of tokens from a public client", login(bigID, largeScope()), http.StatusBadRequest},
		{"refresh grant over the cap", formBody("grant_type", "refresh_token", "refresh_token", "x",
			"client_id", bigID, "scope", overCap), http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, withBigClient)
			hashing := h.countHashing()
			rec := h.token(tt.body)
			if tt.wantStatus == http.StatusOK {
				tok := h.mustToken(rec)
				if tok.Scope != atCap {
					t.Errorf("scope = %.40q…, want the %d tokens in order", tok.Scope, maxScopeTokens)
				}
				return
			}
			assertOAuthError(t, rec, tt.wantStatus, CodeInvalidScope)
			if n := hashing.calls.Load(); n != 0 {
				t.Errorf("%d password hashes for a refused scope", n)
			}
		})
	}
}

func TestScopeSetOperations(t *testing.T) {
	many := scopeTokens(3 * smallScopeSet) // indexed by a map
	few := []string{"read", "write"}       // scanned
	tests := []struct {
		name       string
		want, have []string
		subset     bool
		intersect  []string
	}{
		{"empty want", nil, few, true, nil},
		{"empty have", few, nil, false, nil},
		{"small subset", []string{"write"}, few, true, []string{"write"}},
		{"small not subset", []string{"write", "admin"}, few, false, []string{"write"}},
		{"large subset", many[5:], many, true, many[5:]},
		{"large reversed", reversed(many), many, true, reversed(many)},
		{"large not subset", append(slices.Clone(many), "zz-not-there"), many, false, many},
		{"large want, small have", many, many[:2], false, many[:2]},
		{"prefix is not a token", []string{"rea"}, append(slices.Clone(many), "read"), false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := subset(tt.want, tt.have); got != tt.subset {
				t.Errorf("subset = %v, want %v", got, tt.subset)
			}
			if got := intersect(tt.want, tt.have); !slices.Equal(got, tt.intersect) {
				t.Errorf("intersect = %v, want %v", got, tt.intersect)
			}
		})
	}
}

func TestParseScopeDeduplicatesAcrossTheIndexThreshold(t *testing.T) {
	toks := scopeTokens(2 * smallScopeSet)
	in := strings.Join(append(append(slices.Clone(toks), toks...), toks[0], toks[len(toks)-1]), " ")
	got, err := parseScope(in)
	if err != nil || !slices.Equal(got, toks) {
		t.Errorf("parseScope = %v, %v; want %v", got, err, toks)
	}
}

func reversed(s []string) []string {
	out := slices.Clone(s)
	slices.Reverse(out)
	return out
}
