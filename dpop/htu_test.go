package dpop

import "testing"

func TestNormalizeURL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"https://as.example.com/token", "https://as.example.com/token"},
		{"HTTPS://AS.Example.COM/token", "https://as.example.com/token"},
		{"https://as.example.com:443/token", "https://as.example.com/token"},
		{"http://as.example.com:80/token", "http://as.example.com/token"},
		{"https://as.example.com:80/token", "https://as.example.com:80/token"},
		{"https://as.example.com/token?x=1#frag", "https://as.example.com/token"},
		{"https://as.example.com", "https://as.example.com/"},
		{"https://as.example.com/%7etoken", "https://as.example.com/~token"},
		{"https://as.example.com/a%2fb", "https://as.example.com/a/b"},
		{"http://[::1]:8080/token", "http://[::1]:8080/token"},
		{"http://[::1]/token", "http://[::1]/token"},
	} {
		got, ok := NormalizeURL(tc.in)
		if !ok || got != tc.want {
			t.Errorf("NormalizeURL(%q) = %q, %v; want %q", tc.in, got, ok, tc.want)
		}
	}
	for _, bad := range []string{"", "/token", "ftp://as.example.com/token", "https://user@as.example.com/token", "mailto:a@b", "https:///token", "%zz"} {
		if got, ok := NormalizeURL(bad); ok {
			t.Errorf("NormalizeURL(%q) = %q, true; want false", bad, got)
		}
	}
}

// SameURL's fast path for equal strings still refuses what NormalizeURL
// refuses.
func TestSameURL(t *testing.T) {
	for _, tc := range []struct {
		htu, target string
		want        bool
	}{
		{"https://as.example.com/token", "https://as.example.com/token", true},
		{"https://AS.example.com:443/token", "https://as.example.com/token", true},
		{"https://as.example.com/token", "https://as.example.com/other", false},
		{"ftp://as.example.com/token", "ftp://as.example.com/token", false},
		{"/token", "/token", false},
		{"", "", false},
	} {
		if got := SameURL(tc.htu, tc.target); got != tc.want {
			t.Errorf("SameURL(%q, %q) = %v, want %v", tc.htu, tc.target, got, tc.want)
		}
	}
}
