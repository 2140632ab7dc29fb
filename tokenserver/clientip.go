package tokenserver

import (
	"net/http"
	"net/netip"
	"strings"
)

// clientIP returns the address the login throttle counts against. Without
// trusted proxies it is the peer address. When the peer is a trusted proxy,
// X-Forwarded-For is read right to left and the first address that is not a
// trusted proxy wins: everything left of it was written by the client and
// cannot be believed. The zero Addr means "unknown" (e.g. a unix socket).
func (s *Server) clientIP(r *http.Request) netip.Addr {
	peer := parseHostAddr(r.RemoteAddr)
	if !peer.IsValid() || !s.trusted(peer) {
		return peer
	}
	ip := peer
	hops := r.Header.Values("X-Forwarded-For")
	for i := len(hops) - 1; i >= 0; i-- {
		parts := strings.Split(hops[i], ",")
		for j := len(parts) - 1; j >= 0; j-- {
			a, err := netip.ParseAddr(strings.TrimSpace(parts[j]))
			if err != nil {
				// A garbled entry: stop at the last address we could trust.
				return ip
			}
			ip = a.Unmap()
			if !s.trusted(ip) {
				return ip
			}
		}
	}
	return ip
}

func (s *Server) trusted(a netip.Addr) bool {
	for _, p := range s.trustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// parseHostAddr parses "ip:port" or a bare IP; the zero Addr if neither.
func parseHostAddr(hostport string) netip.Addr {
	if ap, err := netip.ParseAddrPort(hostport); err == nil {
		return ap.Addr().Unmap()
	}
	if a, err := netip.ParseAddr(hostport); err == nil {
		return a.Unmap()
	}
	return netip.Addr{}
}

// ipThrottleKey is the per-address throttle key. IPv6 clients usually
// control a whole /64, so they are counted per /64.
func ipThrottleKey(a netip.Addr) string {
	if !a.IsValid() {
		return "unknown"
	}
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}
