package verifier_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/tokenserver/tokenserver/keys"
	"github.com/tokenserver/tokenserver/store"
	"github.com/tokenserver/tokenserver/verifier"
)

// TestInteropWithKeysManager checks the wire contract with the token
// server's own signer: its JWKS and its compact JWS, for every algorithm it
// issues.
func TestInteropWithKeysManager(t *testing.T) {
	for _, alg := range []string{"ES256", "RS256", "EdDSA"} {
		t.Run(alg, func(t *testing.T) {
			k := newKey(t, "unused", alg)
			m, err := keys.NewStaticManager(keys.Config{}, []keys.StaticKey{{Signer: k.priv, State: store.KeyCurrent, Source: "test"}})
			must(t, err)
			var url string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				switch r.URL.Path {
				case "/.well-known/oauth-authorization-server":
					fmt.Fprintf(w, `{"issuer":%q,"jwks_uri":%q}`, url, url+"/jwks")
				case "/jwks":
					body, etag := m.JWKS()
					w.Header().Set("ETag", etag)
					w.Header().Set("Cache-Control", fmt.Sprintf("max-age=%d", int(m.MaxAge().Seconds())))
					w.Write(body)
				default:
					http.NotFound(w, r)
				}
			}))
			t.Cleanup(srv.Close)
			url = srv.URL
			v, err := verifier.New(context.Background(), verifier.Config{Issuer: url, Audience: testAudience})
			must(t, err)
			now := time.Now()
			payload, _ := json.Marshal(map[string]any{
				"iss": url, "sub": "u", "aud": []string{testAudience}, "exp": now.Add(time.Minute).Unix(),
				"iat": now.Unix(), "jti": "j", "client_id": "c", "scope": "read", "sid": "s", "username": "alice",
			})
			tok, err := m.Sign(payload)
			must(t, err)
			c, err := v.Verify(context.Background(), tok)
			if err != nil {
				t.Fatalf("Verify of a keys.Manager token: %v", err)
			}
			if c.Username != "alice" || !c.HasScope("read") {
				t.Fatalf("claims = %+v", c)
			}
		})
	}
}
