package keys

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tokenserver/tokenserver/store"
)

func writePEM(t testing.TB, blockType string, der []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: blockType, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func pkcs8(t testing.TB, k crypto.Signer) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func newEC(t testing.TB, c elliptic.Curve) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(c, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newRSA(t testing.TB, bits int) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newEd(t testing.TB) ed25519.PrivateKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// staticManager is a PEM-configured manager: current ES256, next EdDSA.
func staticManager(t testing.TB) *Manager {
	t.Helper()
	keys, err := LoadPEMFiles(writePEM(t, "PRIVATE KEY", pkcs8(t, newEC(t, elliptic.P256()))),
		[]string{writePEM(t, "PRIVATE KEY", pkcs8(t, newEd(t)))}, nil)
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewStaticManager(Config{}, keys)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestParsePEMFormats(t *testing.T) {
	ec := newEC(t, elliptic.P256())
	sec1, err := x509.MarshalECPrivateKey(ec)
	if err != nil {
		t.Fatal(err)
	}
	rs := newRSA(t, 2048)
	ed := newEd(t)
	tests := []struct {
		name, blockType string
		der             []byte
		alg             string
	}{
		{"PKCS#8 EC", "PRIVATE KEY", pkcs8(t, ec), ES256},
		{"SEC 1 EC", "EC PRIVATE KEY", sec1, ES256},
		{"PKCS#8 RSA", "PRIVATE KEY", pkcs8(t, rs), RS256},
		{"PKCS#1 RSA", "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rs), RS256},
		{"PKCS#8 Ed25519", "PRIVATE KEY", pkcs8(t, ed), EdDSA},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			signer, err := ParsePEM(pem.EncodeToMemory(&pem.Block{Type: tt.blockType, Bytes: tt.der}))
			if err != nil {
				t.Fatal(err)
			}
			if alg, err := algorithmOf(signer); err != nil || alg != tt.alg {
				t.Fatalf("algorithm %q, %v", alg, err)
			}
		})
	}
}

func TestParsePEMRejects(t *testing.T) {
	ec := newEC(t, elliptic.P256())
	spki, err := x509.MarshalPKIXPublicKey(ec.Public())
	if err != nil {
		t.Fatal(err)
	}
	block := func(typ string, der []byte) []byte { return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}) }
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"not PEM", []byte("-----hello"), "no PEM block"},
		{"empty", nil, "no PEM block"},
		{"public key", block("PUBLIC KEY", spki), "not a private key"},
		{"certificate", block("CERTIFICATE", []byte{1, 2, 3}), "not a private key"},
		{"encrypted", block("ENCRYPTED PRIVATE KEY", []byte{1, 2, 3}), "encrypted"},
		{"corrupt DER", block("PRIVATE KEY", []byte{1, 2, 3}), "parse PRIVATE KEY"},
		{"two keys", append(block("PRIVATE KEY", pkcs8(t, ec)), block("PRIVATE KEY", pkcs8(t, ec))...), "more than one"},
		{"P-384", block("PRIVATE KEY", pkcs8(t, newEC(t, elliptic.P384()))), "only P-256"},
		{"RSA 1024", block("PRIVATE KEY", pkcs8(t, newRSA(t, 1024))), "at least 2048"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ParsePEM(tt.data); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
		})
	}
}

func TestStaticManager(t *testing.T) {
	ctx := context.Background()
	cur, next, retired := newEC(t, elliptic.P256()), newEd(t), newEC(t, elliptic.P256())
	keys, err := LoadPEMFiles(writePEM(t, "PRIVATE KEY", pkcs8(t, cur)),
		[]string{writePEM(t, "PRIVATE KEY", pkcs8(t, next))},
		[]string{writePEM(t, "EC PRIVATE KEY", func() []byte { b, _ := x509.MarshalECPrivateKey(retired); return b }())})
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 3 || keys[0].State != store.KeyCurrent || keys[1].State != store.KeyNext || keys[2].State != store.KeyRetired {
		t.Fatalf("loaded %+v", keys)
	}
	m, err := NewStaticManager(Config{}, keys)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Ready(); err != nil {
		t.Fatal(err)
	}
	curKey, err := newKey(ES256, cur, m.cfg.Now())
	if err != nil {
		t.Fatal(err)
	}
	tok := mustSign(t, m, `{"a":1}`)
	if kidOf(t, tok) != curKey.ID {
		t.Fatal("static manager does not sign with the current key")
	}
	if _, err := m.Verify(tok); err != nil {
		t.Fatal(err)
	}
	retiredKey, err := newKey(ES256, retired, m.cfg.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Verify(forge(t, header(ES256, retiredKey.ID, "at+jwt"), []byte(`{}`), ES256, retired)); err != nil {
		t.Fatalf("configured retired key does not verify: %v", err)
	}
	body, _ := m.JWKS()
	if n := len(jwksKids(t, body)); n != 3 {
		t.Fatalf("JWKS has %d keys", n)
	}
	for name, f := range map[string]func(context.Context) error{"Rotate": m.Rotate, "RotateNow": m.RotateNow} {
		if err := f(ctx); !errors.Is(err, ErrStaticKeys) || !strings.Contains(err.Error(), "PEM files") {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if err := m.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if err := m.Maintain(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestStaticManagerErrors(t *testing.T) {
	ec := newEC(t, elliptic.P256())
	ec2 := newEC(t, elliptic.P256())
	tests := []struct {
		name string
		cfg  Config
		keys []StaticKey
		want string
	}{
		{"no current", Config{}, []StaticKey{{Signer: ec, State: store.KeyNext}}, "no current"},
		{"two current", Config{}, []StaticKey{{Signer: ec, State: store.KeyCurrent}, {Signer: ec2, State: store.KeyCurrent}}, "more than one current"},
		{"algorithm mismatch", Config{Algorithm: EdDSA}, []StaticKey{{Signer: ec, State: store.KeyCurrent}}, "signing algorithm is EdDSA"},
		{"unknown state", Config{}, []StaticKey{{Signer: ec, State: store.KeyCurrent}, {Signer: ec2, State: "old", Source: "old.pem"}}, "unknown state"},
		{"same key twice", Config{}, []StaticKey{{Signer: ec, State: store.KeyCurrent}, {Signer: ec, State: store.KeyNext}}, "twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewStaticManager(tt.cfg, tt.keys); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
		})
	}
	if _, err := LoadPEMFiles("", nil, nil); err == nil {
		t.Fatal("LoadPEMFiles without a current key")
	}
	if _, err := LoadPEMFiles(filepath.Join(t.TempDir(), "missing.pem"), nil, nil); err == nil || !strings.Contains(err.Error(), "current key file") {
		t.Fatalf("missing file: %v", err)
	}
}
