package tokenserver

import (
	"net/http"
	"testing"
)

// FuzzIntrospectToken: whatever the token string, /introspect answers 200
// and only the genuine tokens are active; /revoke answers 200 and never
// revokes anything for a string that is not one of the tokens.
func FuzzIntrospectToken(f *testing.F) {
	h := newHarness(f)
	tok := h.login("read")
	f.Add(tok.AccessToken)
	f.Add(tok.RefreshToken)
	f.Add(tok.AccessToken[:len(tok.AccessToken)-1])
	f.Add(tok.RefreshToken[1:] + "A")
	f.Add("e30.e30.")
	f.Add("..")
	f.Add("")
	f.Fuzz(func(t *testing.T, token string) {
		h.t = t
		genuine := token == tok.AccessToken || token == tok.RefreshToken
		rec := h.introspectReq(formBody("token", token), withBasic(webID, webSecret))
		switch {
		case token == "":
			assertOAuthError(t, rec, http.StatusBadRequest, CodeInvalidRequest)
		case genuine:
			if !h.active(token) {
				t.Fatal("genuine token inactive")
			}
		default:
			assertInactive(t, rec)
			assertRevokeOK(t, h.revokeReq(formBody("token", token), withBasic(webID, webSecret)))
			if rs := h.activeRevocations(); len(rs) != 0 {
				t.Fatalf("revoking %q recorded %+v", token, rs)
			}
		}
	})
}
