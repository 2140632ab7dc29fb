package tokenserver

import (
	"encoding/base64"
	"encoding/json"
	"testing"
)

// decodedKID is headerKID's reference: the member "kid" as encoding/json
// reads it.
func decodedKID(t *testing.T, header string) string {
	t.Helper()
	var members map[string]json.RawMessage
	if json.Unmarshal([]byte(header), &members) != nil {
		return ""
	}
	var kid string
	if json.Unmarshal(members["kid"], &kid) != nil {
		return ""
	}
	return kid
}

// TestHeaderKIDMatchesDecoder checks that the shortcut for the header our
// signer writes reads every header as the JSON decoder does.
func TestHeaderKIDMatchesDecoder(t *testing.T) {
	for _, tc := range []struct {
		name, header, want string
	}{
		{"ours", `{"alg":"ES256","kid":"k1","typ":"at+jwt"}`, "k1"},
		{"ours, non-ASCII kid", `{"alg":"ES256","kid":"clé","typ":"at+jwt"}`, "clé"},
		{"escaped quote in kid", `{"alg":"ES256","kid":"a\"b","typ":"at+jwt"}`, `a"b`},
		{"escaped unicode in kid", `{"alg":"ES256","kid":"\u006b1","typ":"at+jwt"}`, "k1"},
		{"HTML-escaped kid", `{"alg":"ES256","kid":"a\u003cb","typ":"at+jwt"}`, "a<b"},
		{"kid repeated after typ", `{"alg":"ES256","kid":"k1","typ":"at+jwt","kid":"k2"}`, "k2"},
		{"kid inside typ", `{"alg":"ES256","kid":"k1","typ":"x\",\"kid\":\"k2"}`, "k1"},
		{"other order", `{"kid":"k1","alg":"ES256","typ":"at+jwt"}`, "k1"},
		{"extra member", `{"alg":"ES256","kid":"k1","typ":"at+jwt","x":1}`, "k1"},
		{"whitespace", `{"alg":"ES256", "kid":"k1","typ":"at+jwt"}`, "k1"},
		{"invalid UTF-8 in kid", "{\"alg\":\"ES256\",\"kid\":\"k\xff\",\"typ\":\"at+jwt\"}", "k\uFFFD"},
		{"control character in kid", "{\"alg\":\"ES256\",\"kid\":\"k\x01\",\"typ\":\"at+jwt\"}", ""},
		{"kid a number", `{"alg":"ES256","kid":1,"typ":"at+jwt"}`, ""},
		{"no kid", `{"alg":"ES256","typ":"at+jwt"}`, ""},
		{"not JSON", `{"alg":"ES256","kid":"k1","typ":"at+jwt"`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if ref := decodedKID(t, tc.header); ref != tc.want {
				t.Fatalf("test table: decoder reads %q, table says %q", ref, tc.want)
			}
			token := base64.RawURLEncoding.EncodeToString([]byte(tc.header)) + ".e30.sig"
			if got := headerKID(token); got != tc.want {
				t.Fatalf("headerKID = %q, want %q", got, tc.want)
			}
		})
	}
}
