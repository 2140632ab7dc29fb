package tokenserver

import (
	"net/http/httptest"
	"net/netip"
	"testing"
)

func TestClientIP(t *testing.T) {
	proxies := []string{"10.0.0.0/8", "fd00::/8"}
	tests := []struct {
		name    string
		trusted []string
		remote  string
		xff     []string
		want    string
	}{
		{name: "no proxies ignores the header", remote: "203.0.113.9:5555", xff: []string{"198.51.100.1"}, want: "203.0.113.9"},
		{name: "untrusted peer ignores the header", trusted: proxies, remote: "203.0.113.9:5555", xff: []string{"198.51.100.1"}, want: "203.0.113.9"},
		{name: "trusted peer", trusted: proxies, remote: "10.1.1.1:80", xff: []string{"198.51.100.1"}, want: "198.51.100.1"},
		{name: "right-most untrusted wins over spoofed left entries", trusted: proxies, remote: "10.1.1.1:80",
			xff: []string{"1.2.3.4, 198.51.100.1, 10.2.2.2"}, want: "198.51.100.1"},
		{name: "several header lines", trusted: proxies, remote: "10.1.1.1:80",
			xff: []string{"1.2.3.4", "198.51.100.1, 10.2.2.2"}, want: "198.51.100.1"},
		{name: "garbage stops the walk", trusted: proxies, remote: "10.1.1.1:80", xff: []string{"1.2.3.4, bogus, 10.2.2.2"}, want: "10.2.2.2"},
		{name: "single trusted address", trusted: []string{"10.1.1.1"}, remote: "10.1.1.1:80", xff: []string{"198.51.100.1"}, want: "198.51.100.1"},
		{name: "all trusted", trusted: proxies, remote: "10.1.1.1:80", xff: []string{"10.3.3.3"}, want: "10.3.3.3"},
		{name: "ipv6 peer", remote: "[2001:db8::1]:443", want: "2001:db8::1"},
		{name: "mapped ipv4", remote: "[::ffff:203.0.113.9]:443", want: "203.0.113.9"},
		{name: "unparseable peer", remote: "@unix", want: "invalid IP"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			trusted, err := ParseTrustedProxies(tt.trusted)
			if err != nil {
				t.Fatal(err)
			}
			s := &Server{trustedProxies: trusted}
			r := httptest.NewRequest("POST", "/token", nil)
			r.RemoteAddr = tt.remote
			for _, v := range tt.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := s.clientIP(r).String(); got != tt.want {
				t.Errorf("clientIP = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestIPThrottleKey(t *testing.T) {
	for in, want := range map[string]string{
		"203.0.113.9":          "203.0.113.9",
		"2001:db8:1:2:3:4:5:6": "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff::1": "2001:db8:1:2::/64",
	} {
		if got := ipThrottleKey(netip.MustParseAddr(in)); got != want {
			t.Errorf("ipThrottleKey(%s) = %s, want %s", in, got, want)
		}
	}
	if got := ipThrottleKey(netip.Addr{}); got != "unknown" {
		t.Errorf("zero Addr key %q", got)
	}
}
