package username

import (
	"errors"
	"testing"
)

func TestNormalize(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"ASCII unchanged", "alice", "alice"},
		{"ASCII lower-cased", "Alice", "alice"},
		{"ASCII punctuation kept", "a.b-c_d+e@example.com", "a.b-c_d+e@example.com"},
		{"NFC stays", "jos\u00e9", "jos\u00e9"},
		{"NFD composed", "jose\u0301", "jos\u00e9"},
		{"upper non-ASCII lower-cased", "JOS\u00c9", "jos\u00e9"},
		{"full width folded", "\uff21\uff4c\uff49\uff43\uff45", "alice"},
		{"userparts", "John Smith", "john smith"},
		{"userparts normalized each", "Jose\u0301 Garc\u00cda", "jos\u00e9 garc\u00eda"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Normalize(tt.in)
			if err != nil {
				t.Fatalf("Normalize(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Errorf("Normalize(%q) = %q, want %q", tt.in, got, tt.want)
			}
			again, err := Normalize(got)
			if err != nil || again != got {
				t.Errorf("Normalize not idempotent: Normalize(%q) = %q, %v", got, again, err)
			}
		})
	}
}

func TestNormalizeRefuses(t *testing.T) {
	for _, in := range []string{
		"",
		" ",
		" alice",
		"alice ",
		"alice  smith",
		"ali\x00ce",
		"ali\xffce",
		"ali\tce",
		"ali\u3000ce", // ideographic space, width-maps to a space
		"ali\u200bce", // zero-width space
		"\u2163",      // ROMAN NUMERAL FOUR: compatibility character
		"ali\u202ece", // right-to-left override
	} {
		t.Run(in, func(t *testing.T) {
			got, err := Normalize(in)
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("Normalize(%q) = %q, %v; want ErrInvalid", in, got, err)
			}
		})
	}
}

func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"alice", "Jose\u0301", "a b", "\xff", "\uff21"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := Normalize(in)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		again, err := Normalize(got)
		if err != nil || again != got {
			t.Fatalf("Normalize(%q) = %q; again %q, %v", in, got, again, err)
		}
	})
}
