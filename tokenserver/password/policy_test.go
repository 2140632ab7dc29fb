package password_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/tokenserver/tokenserver/tokenserver/password"
)

func TestPolicyCheck(t *testing.T) {
	tests := []struct {
		name string
		min  int
		pw   string
		want error
	}{
		{"empty", 0, "", password.ErrEmpty},
		{"seven ASCII", 0, "abcdefg", password.ErrTooShort},
		{"eight ASCII", 0, "abcdefgh", nil},
		// No composition rules (SP 800-63B-4 §3.1.1.2).
		{"one repeated letter", 0, "aaaaaaaa", nil},
		{"digits only", 0, "12345678", nil},
		// Code points, not bytes: 7 two-byte letters are 7 characters.
		{"seven two-byte letters", 0, "ééééééé", password.ErrTooShort},
		{"eight two-byte letters", 0, "éééééééé", nil},
		{"eight four-byte emoji", 0, strings.Repeat("🔑", 8), nil},
		// After NFC: e + U+0301 is one character (é), so this is 7.
		{"combining accent composes", 0, "cafe\u0301xyz", password.ErrTooShort},
		{"precomposed counts the same", 0, "caf\u00e9xyz", password.ErrTooShort},
		{"combining accent, eight after NFC", 0, "cafe\u0301wxyz", nil},
		// A mark with no precomposed form stays a code point of its own.
		{"uncomposable combining marks count", 0, "abcdefg\u0332", nil},
		{"Hangul jamo compose to syllables", 0, "\u1112\u1161\u11ab\u1112\u1161\u11ab\u1112\u1161\u11ab", password.ErrTooShort},
		{"configured minimum", 12, "abcdefghijk", password.ErrTooShort},
		{"configured minimum met", 12, "abcdefghijkl", nil},
		{"maximum", 0, strings.Repeat("a", password.MaxPasswordBytes), nil},
		{"over maximum", 0, strings.Repeat("a", password.MaxPasswordBytes+1), password.ErrTooLong},
		{"over maximum in bytes, not characters", 0, strings.Repeat("é", password.MaxPasswordBytes/2+1), password.ErrTooLong},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := password.Policy{MinLength: tc.min}.Check(tc.pw)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("Check(%q) = %v, want %v", tc.pw, err, tc.want)
			}
			if err != nil && tc.pw != "" && strings.Contains(err.Error(), tc.pw) {
				t.Errorf("the error names the password: %v", err)
			}
		})
	}
}

func TestPolicyValidate(t *testing.T) {
	for _, tc := range []struct {
		min int
		ok  bool
	}{{0, true}, {8, true}, {15, true}, {password.MaxPasswordBytes, true},
		{7, false}, {1, false}, {-1, false}, {password.MaxPasswordBytes + 1, false}} {
		p := password.Policy{MinLength: tc.min}
		if err := p.Validate(); (err == nil) != tc.ok {
			t.Errorf("Policy{MinLength: %d}.Validate() = %v, want ok=%v", tc.min, err, tc.ok)
		}
		// Check refuses to run with a policy that does not validate.
		if err := p.Check(strings.Repeat("x", 20)); tc.ok == (err != nil) && tc.min <= 20 {
			t.Errorf("Policy{MinLength: %d}.Check = %v, want ok=%v", tc.min, err, tc.ok)
		}
	}
}

// blocklistPasswords are n distinct plain passwords.
func blocklistPasswords(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("breached-%07d", i)
	}
	return out
}

// writeBlocklist builds a SHA-1 blocklist of pws in a temporary file.
func writeBlocklist(t testing.TB, pws []string) string {
	t.Helper()
	var buf bytes.Buffer
	if err := password.BuildBlocklist(&buf, strings.NewReader(strings.Join(pws, "\r\n")+"\n\n")); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "blocklist")
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func openBlocklist(t testing.TB, path string) *password.Blocklist {
	t.Helper()
	b, err := password.OpenBlocklist(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func TestBlocklistHitAndMiss(t *testing.T) {
	pws := blocklistPasswords(5000)
	path := writeBlocklist(t, append(pws, pws[:10]...)) // duplicates collapse
	if st, _ := os.Stat(path); st.Size() != 5000*41 {
		t.Fatalf("blocklist is %d bytes, want 5000 lines of 41", st.Size())
	}
	b := openBlocklist(t, path)
	policy := password.Policy{Blocklist: b}
	for _, i := range []int{0, 1, 2499, 4998, 4999} {
		if err := policy.Check(pws[i]); !errors.Is(err, password.ErrBreached) {
			t.Errorf("Check(%q) = %v, want ErrBreached", pws[i], err)
		}
	}
	// Every entry is found: the first and last records and everything
	// between, whatever the digests' order.
	for _, pw := range pws {
		if ok, err := b.Contains(pw); !ok || err != nil {
			t.Fatalf("Contains(%q) = %v, %v; want true", pw, ok, err)
		}
	}
	for _, pw := range []string{"breached-5000000", "Breached-0000001", "breached-0000001 ", "correct horse battery staple"} {
		if err := policy.Check(pw); err != nil {
			t.Errorf("Check(%q) = %v, want nil", pw, err)
		}
	}
}

func TestBlocklistSHA256(t *testing.T) {
	var lines []string
	for _, pw := range []string{"hunter22", "password1", "letmein!!"} {
		sum := sha256.Sum256([]byte(pw))
		lines = append(lines, hex.EncodeToString(sum[:]))
	}
	slices.Sort(lines)
	path := filepath.Join(t.TempDir(), "bl256")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	b := openBlocklist(t, path)
	for pw, want := range map[string]bool{"hunter22": true, "letmein!!": true, "password1": true, "password2": false} {
		if got, err := b.Contains(pw); got != want || err != nil {
			t.Errorf("Contains(%q) = %v, %v; want %v", pw, got, err, want)
		}
	}
}

func TestOpenBlocklistRefusesMalformed(t *testing.T) {
	digest := strings.Repeat("a", 40)
	tests := map[string]string{
		"empty":           "",
		"short digest":    strings.Repeat("a", 39) + "\n",
		"upper case":      strings.Repeat("A", 40) + "\n",
		"CRLF":            digest + "\r\n" + digest + "\r\n",
		"ragged":          digest + "\n" + digest + "0\n",
		"no final NL":     digest + "\n" + digest,
		"last not hex":    digest + "\n" + strings.Repeat("z", 40) + "\n",
		"HIBP with count": strings.Repeat("A", 40) + ":12\r\n",
	}
	for name, content := range tests {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "bl")
			if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			if b, err := password.OpenBlocklist(path); err == nil {
				b.Close()
				t.Fatalf("OpenBlocklist accepted %q", content)
			}
		})
	}
	if _, err := password.OpenBlocklist(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("OpenBlocklist accepted a missing file")
	}
}

// The checker's memory does not grow with the file: opening and searching a
// list 200 times larger allocates the same, and opening an 8 MB list
// allocates a few hundred bytes, not the file.
func TestBlocklistConstantMemory(t *testing.T) {
	small := writeBlocklist(t, blocklistPasswords(1000))
	large := writeBlocklist(t, blocklistPasswords(200_000))

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	bl := openBlocklist(t, large)
	runtime.ReadMemStats(&after)
	if n := after.TotalAlloc - before.TotalAlloc; n > 64<<10 {
		t.Errorf("opening a %d-byte blocklist allocated %d bytes", 200_000*41, n)
	}

	bs := openBlocklist(t, small)
	allocs := func(b *password.Blocklist, pw string) float64 {
		return testing.AllocsPerRun(50, func() {
			if _, err := b.Contains(pw); err != nil {
				t.Fatal(err)
			}
		})
	}
	for _, pw := range []string{"breached-0000500", "not in either list"} {
		s, l := allocs(bs, pw), allocs(bl, pw)
		if s != l || l > 2 {
			t.Errorf("Contains(%q) allocates %v times on 1,000 lines and %v on 200,000; want the same, at most 2", pw, s, l)
		}
	}
}
