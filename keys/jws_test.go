package keys

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"strings"
	"testing"

	"github.com/tokenserver/tokenserver/store"
)

// allAlgorithms sets up one store holding keys of every algorithm and a
// Manager signing with each, all sharing the set.
func allAlgorithms(t testing.TB) (*testEnv, map[string]*Manager) {
	t.Helper()
	env := newEnv(t)
	ms := map[string]*Manager{}
	ms[ES256] = env.manager(func(c *Config) { c.PublishAlgorithms = []string{RS256, EdDSA} })
	for _, alg := range []string{RS256, EdDSA} {
		ms[alg] = env.manager(func(c *Config) { c.Algorithm = alg })
	}
	if n := len(env.stored()); n != 6 {
		t.Fatalf("stored %d keys, want current+next for 3 algorithms", n)
	}
	return env, ms
}

// keyOf returns the opened key of alg in state from m's snapshot.
func keyOf(t testing.TB, m *Manager, alg string, state store.KeyState) *Key {
	t.Helper()
	for _, e := range m.snap.Load().entries {
		if e.meta.Algorithm == alg && e.meta.State == state {
			return e.key
		}
	}
	t.Fatalf("no %s %s key", state, alg)
	return nil
}

func TestSignVerifyRoundTrip(t *testing.T) {
	_, ms := allAlgorithms(t)
	for _, alg := range []string{ES256, RS256, EdDSA} {
		t.Run(alg, func(t *testing.T) {
			m := ms[alg]
			payload := `{"sub":"u1","scope":"a b"}`
			tok := mustSign(t, m, payload)
			parts := strings.Split(tok, ".")
			if len(parts) != 3 {
				t.Fatalf("token has %d parts", len(parts))
			}
			rawHdr, err := b64.DecodeString(parts[0])
			if err != nil {
				t.Fatal(err)
			}
			cur := keyOf(t, m, alg, store.KeyCurrent)
			if want := header(alg, cur.ID, "at+jwt"); string(rawHdr) != want {
				t.Fatalf("header %s, want exactly %s", rawHdr, want)
			}
			// Every manager on the set verifies every published key's tokens.
			for name, other := range ms {
				got, err := other.Verify(tok)
				if err != nil {
					t.Fatalf("%s manager: Verify: %v", name, err)
				}
				if string(got) != payload {
					t.Fatalf("payload %q", got)
				}
			}
		})
	}
}

func TestVerifyAcceptsTypVariants(t *testing.T) {
	_, ms := allAlgorithms(t)
	m := ms[ES256]
	cur := keyOf(t, m, ES256, store.KeyCurrent)
	for _, typ := range []string{"at+jwt", "AT+JWT", "application/at+jwt", "Application/At+JWT"} {
		t.Run(typ, func(t *testing.T) {
			tok := forge(t, header(ES256, cur.ID, typ), []byte(`{}`), ES256, cur.Signer)
			if _, err := m.Verify(tok); err != nil {
				t.Fatalf("typ %q rejected: %v", typ, err)
			}
		})
	}
}

func TestVerifyRejects(t *testing.T) {
	_, ms := allAlgorithms(t)
	m := ms[ES256]
	ec := keyOf(t, m, ES256, store.KeyCurrent)
	ecNext := keyOf(t, m, ES256, store.KeyNext)
	rs := keyOf(t, m, RS256, store.KeyCurrent)
	ed := keyOf(t, m, EdDSA, store.KeyCurrent)
	payload := []byte(`{"sub":"u1"}`)
	valid := mustSign(t, m, string(payload))
	parts := strings.Split(valid, ".")

	jwkJSON, err := ec.PublicJSON()
	if err != nil {
		t.Fatal(err)
	}
	spki, err := x509.MarshalPKIXPublicKey(ec.Signer.Public())
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: spki})
	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	withMembers := func(extra string) string {
		return strings.TrimSuffix(header(ES256, ec.ID, "at+jwt"), "}") + "," + extra + "}"
	}

	tests := []struct {
		name  string
		token string
	}{
		{"unknown kid", forge(t, header(ES256, "no-such-key", "at+jwt"), payload, ES256, ec.Signer)},
		{"alg none", forge(t, header("none", ec.ID, "at+jwt"), payload, "none", nil)},
		{"alg none with a signature", forge(t, header("none", ec.ID, "at+jwt"), payload, "none", nil) + parts[2]},
		{"HS256 keyed with the public JWK", forge(t, header("HS256", ec.ID, "at+jwt"), payload, "HS256", jwkJSON)},
		{"HS256 keyed with the public PEM", forge(t, header("HS256", ec.ID, "at+jwt"), payload, "HS256", pubPEM)},
		{"HS256 keyed with the RSA public PEM", forge(t, header("HS256", rs.ID, "at+jwt"), payload, "HS256", pubPEM)},
		{"RS256 header on an ES256 key", forge(t, header(RS256, ec.ID, "at+jwt"), payload, RS256, rs.Signer)},
		{"ES256 header on an RS256 key", forge(t, header(ES256, rs.ID, "at+jwt"), payload, ES256, ec.Signer)},
		{"EdDSA header on an ES256 key", forge(t, header(EdDSA, ec.ID, "at+jwt"), payload, EdDSA, ed.Signer)},
		{"ES384 header on an ES256 key", forge(t, header("ES384", ec.ID, "at+jwt"), payload, ES256, ec.Signer)},
		{"lowercase alg", forge(t, header("es256", ec.ID, "at+jwt"), payload, ES256, ec.Signer)},
		{"typ JWT", forge(t, header(ES256, ec.ID, "JWT"), payload, ES256, ec.Signer)},
		{"typ application/jwt", forge(t, header(ES256, ec.ID, "application/jwt"), payload, ES256, ec.Signer)},
		{"typ empty", forge(t, header(ES256, ec.ID, ""), payload, ES256, ec.Signer)},
		{"typ with a space", forge(t, header(ES256, ec.ID, "at+jwt "), payload, ES256, ec.Signer)},
		{"typ missing", forge(t, `{"alg":"ES256","kid":"`+ec.ID+`"}`, payload, ES256, ec.Signer)},
		{"typ a number", forge(t, `{"alg":"ES256","kid":"`+ec.ID+`","typ":1}`, payload, ES256, ec.Signer)},
		{"typ null", forge(t, `{"alg":"ES256","kid":"`+ec.ID+`","typ":null}`, payload, ES256, ec.Signer)},
		{"kid in other case", forge(t, `{"alg":"ES256","KID":"`+ec.ID+`","typ":"at+jwt"}`, payload, ES256, ec.Signer)},
		{"kid missing", forge(t, `{"alg":"ES256","typ":"at+jwt"}`, payload, ES256, ec.Signer)},
		{"crit", forge(t, withMembers(`"crit":["exp"],"exp":1`), payload, ES256, ec.Signer)},
		{"b64 false", forge(t, withMembers(`"b64":false,"crit":["b64"]`), payload, ES256, ec.Signer)},
		{"signed by the next key under the current kid", forge(t, header(ES256, ec.ID, "at+jwt"), payload, ES256, ecNext.Signer)},
		{"tampered payload", parts[0] + "." + b64.EncodeToString([]byte(`{"sub":"u2"}`)) + "." + parts[2]},
		{"tampered payload byte", parts[0] + "." + flip(parts[1], 2) + "." + parts[2]},
		{"tampered signature", parts[0] + "." + parts[1] + "." + flip(parts[2], 5)},
		{"signature non-canonical last char", parts[0] + "." + parts[1] + "." + parts[2][:len(parts[2])-1] + string(rune(parts[2][len(parts[2])-1]+1))},
		{"signature truncated", parts[0] + "." + parts[1] + "." + parts[2][:40]},
		{"signature empty", parts[0] + "." + parts[1] + "."},
		{"padded signature", valid + "=="},
		{"padded header", parts[0] + "=." + parts[1] + "." + parts[2]},
		{"empty", ""},
		{"one part", "abc"},
		{"two parts", parts[0] + "." + parts[1]},
		{"four parts", valid + ".x"},
		{"JWE-like five parts", "a.b.c.d.e"},
		{"dots only", ".."},
		{"header not base64", "!!!." + parts[1] + "." + parts[2]},
		{"header not JSON", b64.EncodeToString([]byte("nope")) + "." + parts[1] + "." + parts[2]},
		{"header a JSON array", b64.EncodeToString([]byte(`["ES256"]`)) + "." + parts[1] + "." + parts[2]},
		{"payload not base64", parts[0] + ".***." + parts[2]},
		{"too long", parts[0] + "." + strings.Repeat("A", MaxTokenSize) + "." + parts[2]},
	}
	if strings.ContainsAny(valid, "-_") { // otherwise the alphabets agree
		tests = append(tests, struct{ name, token string }{
			"standard base64 alphabet", strings.NewReplacer("-", "+", "_", "/").Replace(valid)})
	}
	if _, err := m.Verify(valid); err != nil {
		t.Fatalf("baseline token rejected: %v", err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := m.Verify(tt.token)
			if err == nil {
				t.Fatalf("accepted, payload %q", got)
			}
			if !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("error %v does not wrap ErrInvalidToken", err)
			}
			if got != nil {
				t.Fatalf("payload returned with error: %q", got)
			}
		})
	}
}

func TestParseHeaderIgnoresUnknownMembers(t *testing.T) {
	// RFC 7515 §4: header parameters that are not understood are ignored
	// unless listed in "crit".
	_, ms := allAlgorithms(t)
	m := ms[EdDSA]
	ed := keyOf(t, m, EdDSA, store.KeyCurrent)
	hdr := `{"alg":"EdDSA","kid":"` + ed.ID + `","typ":"at+jwt","x-extra":{"a":[1]},"cty":"json"}`
	if _, err := m.Verify(forge(t, hdr, []byte(`{}`), EdDSA, ed.Signer)); err != nil {
		t.Fatalf("unknown member rejected: %v", err)
	}
}
