package verifier_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tokenserver/tokenserver/verifier"
)

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func b64JSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b64(b)
}

func TestVerify(t *testing.T) {
	clk := newClock()
	es := newKey(t, "es", "ES256")
	rs := newKey(t, "rs", "RS256")
	ed := newKey(t, "ed", "EdDSA")
	rsNoAlg := newKey(t, "rs-noalg", "RS256")
	rsNoAlg.jwkAlg = ""
	es384 := newKey(t, "es384", "ES384")
	is := newIssuer(t, es, rs, ed, rsNoAlg, es384)
	v := newVerifier(t, is, clk, nil)
	now := clk.Now()

	// with returns valid claims changed by kv (a nil value deletes).
	with := func(kv ...any) map[string]any {
		c := is.claims(now)
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(c, kv[i].(string))
			} else {
				c[kv[i].(string)] = kv[i+1]
			}
		}
		return c
	}
	valid := es.sign(t, with(), nil)
	parts := strings.Split(valid, ".")
	otherPayload := b64JSON(t, with("sub", "mallory"))
	pkix, err := x509.MarshalPKIXPublicKey(es.priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	hs256 := func(key []byte) string {
		in := b64JSON(t, map[string]string{"alg": "HS256", "kid": "es", "typ": "at+jwt"}) + "." + parts[1]
		m := hmac.New(sha256.New, key)
		m.Write([]byte(in))
		return in + "." + b64(m.Sum(nil))
	}
	flipped := []byte(parts[2])
	flipped[10] ^= 0x01
	if flipped[10] == '.' || flipped[10] == '/' {
		flipped[10] = 'A'
	}
	unpublished := newKey(t, "nobody", "ES256")
	rsKeyAsES := &signingKey{kid: "es", alg: rs.alg, priv: rs.priv}          // RS256 under the ES256 key's kid
	es384AsES256 := &signingKey{kid: "es", alg: es384.alg, priv: es384.priv} // ES384 under the ES256 kid
	psUnderRS := newKey(t, "rs", "PS256")                                    // RS256-pinned kid, PS256 header
	psUnderRS.priv = rs.priv

	tests := []struct {
		name  string
		token string
		want  error // nil: accepted
	}{
		{"valid ES256", valid, nil},
		{"valid RS256", rs.sign(t, with(), nil), nil},
		{"valid EdDSA", ed.sign(t, with(), nil), nil},
		{"valid ES384", es384.sign(t, with(), nil), nil},
		{"RSA key without alg pinned to RS256", rsNoAlg.sign(t, with(), nil), nil},
		{"typ application/at+jwt", es.sign(t, with(), map[string]any{"typ": "application/at+jwt"}), nil},
		{"typ in upper case", es.sign(t, with(), map[string]any{"typ": "AT+JWT"}), nil},
		{"aud array containing audience", es.sign(t, with("aud", []string{"other", testAudience}), nil), nil},
		{"exp within leeway", es.sign(t, with("exp", now.Add(-3*time.Second).Unix()), nil), nil},
		{"nbf within leeway", es.sign(t, with("nbf", now.Add(3*time.Second).Unix()), nil), nil},
		{"fractional exp", es.sign(t, with("exp", float64(now.Add(time.Minute).Unix())+0.5), nil), nil},

		{"expired", es.sign(t, with("exp", now.Add(-6*time.Second).Unix()), nil), verifier.ErrExpired},
		{"not yet valid", es.sign(t, with("nbf", now.Add(time.Minute).Unix()), nil), verifier.ErrInvalidToken},
		{"issued in the future", es.sign(t, with("iat", now.Add(time.Minute).Unix()), nil), verifier.ErrInvalidToken},
		{"missing exp", es.sign(t, with("exp", nil), nil), verifier.ErrInvalidToken},
		{"missing iat", es.sign(t, with("iat", nil), nil), verifier.ErrInvalidToken},
		{"missing jti", es.sign(t, with("jti", nil), nil), verifier.ErrInvalidToken},
		{"missing sub", es.sign(t, with("sub", nil), nil), verifier.ErrInvalidToken},
		{"missing client_id", es.sign(t, with("client_id", nil), nil), verifier.ErrInvalidToken},
		{"exp not a number", es.sign(t, with("exp", "soon"), nil), verifier.ErrInvalidToken},
		{"negative exp", es.sign(t, with("exp", -1), nil), verifier.ErrInvalidToken},
		{"wrong issuer", es.sign(t, with("iss", is.URL+"/other"), nil), verifier.ErrInvalidToken},
		{"issuer with trailing slash", es.sign(t, with("iss", is.URL+"/"), nil), verifier.ErrInvalidToken},
		{"wrong audience", es.sign(t, with("aud", "https://other.example.test"), nil), verifier.ErrInvalidToken},
		{"aud array without audience", es.sign(t, with("aud", []string{"a", "b"}), nil), verifier.ErrInvalidToken},
		{"missing aud", es.sign(t, with("aud", nil), nil), verifier.ErrInvalidToken},
		{"aud of wrong type", es.sign(t, with("aud", 42), nil), verifier.ErrInvalidToken},
		{"missing typ", es.sign(t, with(), map[string]any{"typ": nil}), verifier.ErrInvalidToken},
		{"typ JWT", es.sign(t, with(), map[string]any{"typ": "JWT"}), verifier.ErrInvalidToken},
		{"missing kid", es.sign(t, with(), map[string]any{"kid": nil}), verifier.ErrInvalidToken},
		{"crit header", es.sign(t, with(), map[string]any{"crit": []string{"exp"}}), verifier.ErrInvalidToken},
		{"tampered payload", parts[0] + "." + otherPayload + "." + parts[2], verifier.ErrInvalidToken},
		{"tampered signature", parts[0] + "." + parts[1] + "." + string(flipped), verifier.ErrInvalidToken},
		{"signature removed", parts[0] + "." + parts[1] + ".", verifier.ErrInvalidToken},
		{"alg none", b64JSON(t, map[string]string{"alg": "none", "kid": "es", "typ": "at+jwt"}) + "." + parts[1] + ".", verifier.ErrInvalidToken},
		{"HS256 keyed with the public key (DER)", hs256(pkix), verifier.ErrInvalidToken},
		{"HS256 keyed with the public JWK", hs256(es.publicJWK(t)), verifier.ErrInvalidToken},
		{"RS256 header on an ES256 key", rsKeyAsES.sign(t, with(), nil), verifier.ErrInvalidToken},
		{"ES384 header on an ES256 key", es384AsES256.sign(t, with(), nil), verifier.ErrInvalidToken},
		{"PS256 header on an RS256-pinned key", psUnderRS.sign(t, with(), nil), verifier.ErrInvalidToken},
		{"unknown kid", unpublished.sign(t, with(), nil), verifier.ErrInvalidToken},
		{"empty", "", verifier.ErrInvalidToken},
		{"two segments", parts[0] + "." + parts[1], verifier.ErrInvalidToken},
		{"four segments", valid + ".x", verifier.ErrInvalidToken},
		{"padded header", parts[0] + "=." + parts[1] + "." + parts[2], verifier.ErrInvalidToken},
		{"JSON serialization", `{"payload":"` + parts[1] + `","signatures":[]}`, verifier.ErrInvalidToken},
		{"oversized", strings.Repeat("a", 20<<10), verifier.ErrInvalidToken},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := v.Verify(context.Background(), tc.token)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Verify: %v, want accepted", err)
				}
				if c.Subject != "user-1" || c.Username != "alice" || c.ClientID != "app" || c.SID != "sid-1" ||
					c.Issuer != is.URL || !slices.Contains(c.Audience, testAudience) || !c.HasScope("read") ||
					c.ExpiresAt.IsZero() || !c.IssuedAt.Equal(now) || c.JTI == "" {
					t.Fatalf("claims = %+v", c)
				}
				return
			}
			t.Log(err)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Verify: %v, want %v", err, tc.want)
			}
			if c != nil {
				t.Fatalf("claims returned with error: %+v", c)
			}
		})
	}
}

func TestErrorsWrapInvalidToken(t *testing.T) {
	for _, err := range []error{verifier.ErrExpired, verifier.ErrRevoked, verifier.ErrAudienceMismatch} {
		if !errors.Is(err, verifier.ErrInvalidToken) {
			t.Errorf("%v does not wrap ErrInvalidToken", err)
		}
	}
	if errors.Is(verifier.ErrRevocationUnavailable, verifier.ErrInvalidToken) {
		t.Error("ErrRevocationUnavailable must not look like a token error")
	}
}

func TestHasScope(t *testing.T) {
	c := &verifier.Claims{Scope: "read write:all  admin"}
	for s, want := range map[string]bool{"read": true, "write:all": true, "admin": true, "write": false, "": false, "rea": false, "read write:all": false} {
		if got := c.HasScope(s); got != want {
			t.Errorf("HasScope(%q) = %v, want %v", s, got, want)
		}
	}
}
