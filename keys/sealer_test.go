package keys

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

func TestSealerRoundTrip(t *testing.T) {
	s := newTestSealer(t)
	plain := []byte("pkcs8 bytes")
	a, err := s.Seal("kid-1", plain)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Seal("kid-1", plain)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a, b) {
		t.Fatal("two seals of the same key are equal: nonce reused")
	}
	if a[0] != sealVersion || len(a) != 1+12+len(plain)+16 {
		t.Fatalf("sealed layout: version %d, len %d", a[0], len(a))
	}
	if bytes.Contains(a, plain) {
		t.Fatal("plain text visible in sealed blob")
	}
	got, err := s.Open("kid-1", a)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, plain) {
		t.Fatalf("Open = %q", got)
	}
}

func TestSealerOpenFailures(t *testing.T) {
	s := newTestSealer(t)
	other := newTestSealer(t)
	sealed, err := s.Seal("kid-1", []byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	flip := func(i int) []byte {
		b := bytes.Clone(sealed)
		b[i] ^= 1
		return b
	}
	tests := []struct {
		name   string
		sealer *Sealer
		kid    string
		blob   []byte
		wrong  bool // errors.Is(err, ErrWrongKEK)
	}{
		{"wrong KEK", other, "kid-1", sealed, true},
		{"blob of another key", s, "kid-2", sealed, true},
		{"altered nonce", s, "kid-1", flip(1), true},
		{"altered cipher text", s, "kid-1", flip(14), true},
		{"altered tag", s, "kid-1", flip(len(sealed) - 1), true},
		{"unknown version", s, "kid-1", flip(0), false},
		{"truncated", s, "kid-1", sealed[:20], false},
		{"empty", s, "kid-1", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.sealer.Open(tt.kid, tt.blob)
			if err == nil {
				t.Fatal("Open succeeded")
			}
			if errors.Is(err, ErrWrongKEK) != tt.wrong {
				t.Fatalf("errors.Is(%v, ErrWrongKEK) = %v", err, !tt.wrong)
			}
			if tt.wrong && !strings.Contains(err.Error(), "key-encryption key") {
				t.Fatalf("error does not name the key-encryption key: %v", err)
			}
		})
	}
}

func TestSealRejectsEmptyKid(t *testing.T) {
	if _, err := newTestSealer(t).Seal("", []byte("x")); err == nil {
		t.Fatal("sealed without a kid")
	}
}

func TestNewSealerKEKLength(t *testing.T) {
	for _, n := range []int{0, 16, 24, 31, 33, 64} {
		if _, err := NewSealer(make([]byte, n)); err == nil {
			t.Errorf("NewSealer accepted a %d-byte KEK", n)
		}
	}
	if _, err := NewSealer(make([]byte, 32)); err != nil {
		t.Fatal(err)
	}
}

func TestParseKEK(t *testing.T) {
	kek := bytes.Repeat([]byte{0xfb, 0xff, 0x3e}, 11)[:32] // exercises + / - _
	tests := []struct {
		name    string
		in      string
		want    []byte
		errPart string
	}{
		{"std padded", base64.StdEncoding.EncodeToString(kek), kek, ""},
		{"std raw", base64.RawStdEncoding.EncodeToString(kek), kek, ""},
		{"url padded", base64.URLEncoding.EncodeToString(kek), kek, ""},
		{"url raw", base64.RawURLEncoding.EncodeToString(kek), kek, ""},
		{"surrounding whitespace", " \n" + base64.StdEncoding.EncodeToString(kek) + "\n", kek, ""},
		{"empty", "", nil, "empty"},
		{"too short", base64.StdEncoding.EncodeToString(kek[:16]), nil, "16 bytes"},
		{"too long", base64.StdEncoding.EncodeToString(append(kek, 1)), nil, "33 bytes"},
		{"not base64", "this is not base64 at all!!", nil, "not valid base64"},
		{"hex", strings.Repeat("ab", 32), nil, "bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseKEK(tt.in)
			if tt.errPart == "" {
				if err != nil || !bytes.Equal(got, tt.want) {
					t.Fatalf("ParseKEK = %x, %v", got, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("ParseKEK accepted %q", tt.in)
			}
			msg := err.Error()
			if !strings.Contains(msg, "TOKENSERVER_KEK") || !strings.Contains(msg, tt.errPart) {
				t.Fatalf("error %q should name TOKENSERVER_KEK and say %q", msg, tt.errPart)
			}
			if tt.in != "" && strings.Contains(msg, strings.TrimSpace(tt.in)) {
				t.Fatalf("error echoes the secret: %q", msg)
			}
		})
	}
}
