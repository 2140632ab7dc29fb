package keys

import (
	"crypto"
	"crypto/elliptic"
	"errors"
	"github.com/tokenserver/tokenserver/internal/jwstest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tokenserver/tokenserver/store"
)

// FuzzVerify: Verify never panics, every error wraps ErrInvalidToken, and
// whatever it accepts is canonical base64url carrying a payload one of our
// keys signed.
func FuzzVerify(f *testing.F) {
	// PEM-style keys: a 2048-bit RSA key keeps each fuzz worker's setup short.
	ec, ed, rs := newEC(f, elliptic.P256()), newEd(f), newRSA(f, 2048)
	m, err := NewStaticManager(Config{}, []StaticKey{
		{Signer: ec, State: store.KeyCurrent},
		{Signer: ed, State: store.KeyNext},
		{Signer: rs, State: store.KeyRetired},
	})
	if err != nil {
		f.Fatal(err)
	}
	kid := func(alg string, s crypto.Signer) string {
		k, err := newKey(alg, s, time.Time{})
		if err != nil {
			f.Fatal(err)
		}
		return k.ID
	}
	signed := map[string]bool{}
	for i, k := range []struct {
		alg    string
		signer crypto.Signer
	}{{ES256, ec}, {EdDSA, ed}, {RS256, rs}} {
		payload := `{"sub":"u` + strconv.Itoa(i) + `","scope":"read write"}`
		signed[payload] = true
		tok := forge(f, header(k.alg, kid(k.alg, k.signer), "at+jwt"), []byte(payload), k.alg, k.signer)
		if _, err := m.Verify(tok); err != nil {
			f.Fatalf("seed %s: %v", k.alg, err)
		}
		f.Add(tok)
		parts := strings.Split(tok, ".")
		f.Add(parts[0] + "." + parts[1] + ".")
		f.Add(parts[0] + ".." + parts[2])
		f.Add(tok + "." + parts[2])
	}
	ecKey, err := newKey(ES256, ec, time.Time{})
	if err != nil {
		f.Fatal(err)
	}
	jwkJSON, err := ecKey.PublicJSON()
	if err != nil {
		f.Fatal(err)
	}
	signed[`{}`] = true
	// Non-canonical re-encodings of a genuine token (RFC 7515 §2).
	awkward := awkwardToken(f, ecKey)
	if _, err := m.Verify(awkward); err != nil {
		f.Fatalf("awkward seed: %v", err)
	}
	awkwardPayload, err := b64.DecodeString(strings.Split(awkward, ".")[1])
	if err != nil {
		f.Fatal(err)
	}
	signed[string(awkwardPayload)] = true
	f.Add(awkward)
	for _, mu := range jwstest.EncodingMutations(f, awkward) {
		f.Add(mu.Token)
	}
	f.Add(forge(f, header(ES256, ecKey.ID, "application/AT+JWT"), []byte(`{}`), ES256, ec))
	f.Add(forge(f, header("none", ecKey.ID, "at+jwt"), []byte(`{"evil":1}`), "none", nil))
	f.Add(forge(f, header("HS256", ecKey.ID, "at+jwt"), []byte(`{"evil":1}`), "HS256", jwkJSON))
	f.Add(forge(f, header(ES256, ecKey.ID, "JWT"), []byte(`{"evil":1}`), ES256, ec))
	f.Add(forge(f, `{"alg":"ES256","kid":"`+ecKey.ID+`","typ":"at+jwt","crit":["x"]}`, []byte(`{"evil":1}`), ES256, ec))
	for _, s := range []string{"", ".", "..", "...", "a.b.c", "eyJhbGciOiJub25lIn0..", strings.Repeat("A", 100)} {
		f.Add(s)
	}

	f.Fuzz(func(t *testing.T, token string) {
		payload, err := m.Verify(token)
		if err != nil {
			if !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("error %v does not wrap ErrInvalidToken", err)
			}
			if payload != nil {
				t.Fatal("payload returned with an error")
			}
			return
		}
		// RFC 7515 §2: base64url without padding, line breaks or
		// whitespace; nothing else may pass.
		if i := strings.IndexFunc(token, func(r rune) bool {
			return !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.')
		}); i >= 0 {
			t.Fatalf("accepted a token with %q at %d: %q", token[i], i, token)
		}
		if !signed[string(payload)] {
			t.Fatalf("accepted a payload no key of ours signed: %q (token %q)", payload, token)
		}
	})
}
