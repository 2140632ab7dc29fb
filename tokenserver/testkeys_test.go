package tokenserver

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"
)

// newTestKeys returns the Keys for a harness.
// TODO(tokenserver): switch to a real *keys.Manager once keys lands.
func newTestKeys(t testing.TB, _ *testClock) Keys {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &edKeys{pub: pub, priv: priv}
}

type edKeys struct {
	pub  ed25519.PublicKey
	priv ed25519.PrivateKey
}

var b64 = base64.RawURLEncoding

func (k *edKeys) Sign(payload []byte) (string, error) {
	in := b64.EncodeToString([]byte(`{"alg":"EdDSA","kid":"test","typ":"at+jwt"}`)) + "." + b64.EncodeToString(payload)
	return in + "." + b64.EncodeToString(ed25519.Sign(k.priv, []byte(in))), nil
}

func (k *edKeys) Verify(token string) ([]byte, error) {
	i := strings.LastIndexByte(token, '.')
	if i < 0 {
		return nil, errors.New("malformed")
	}
	sig, err := b64.DecodeString(token[i+1:])
	if err != nil || !ed25519.Verify(k.pub, []byte(token[:i]), sig) {
		return nil, errors.New("bad signature")
	}
	_, p, _ := strings.Cut(token[:i], ".")
	return b64.DecodeString(p)
}

func (k *edKeys) JWKS() ([]byte, string) {
	return []byte(`{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"test","x":"` + b64.EncodeToString(k.pub) + `"}]}`), `"v1"`
}

func (k *edKeys) MaxAge() time.Duration { return 10 * time.Minute }
