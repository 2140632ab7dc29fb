package tokenserver

import (
	"strings"
	"testing"
	"time"
)

func TestNewValidatesConfig(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(*Config)
		wantErr string // "" means valid
	}{
		{name: "valid", edit: func(*Config) {}},
		{name: "http loopback name", edit: func(c *Config) { c.Issuer = "http://localhost:8080" }},
		{name: "http loopback v4", edit: func(c *Config) { c.Issuer = "http://127.0.0.1:8080" }},
		{name: "http loopback v6", edit: func(c *Config) { c.Issuer = "http://[::1]:8080" }},
		{name: "issuer with path", edit: func(c *Config) { c.Issuer = "https://auth.example.com/tenant" }},
		{name: "issuer missing", edit: func(c *Config) { c.Issuer = "" }, wantErr: "Issuer: required"},
		{name: "issuer relative", edit: func(c *Config) { c.Issuer = "auth.example.com" }, wantErr: "Issuer: must be an absolute URL"},
		{name: "issuer plain http", edit: func(c *Config) { c.Issuer = "http://auth.example.com" }, wantErr: "Issuer: http is allowed only for loopback"},
		{name: "issuer ftp", edit: func(c *Config) { c.Issuer = "ftp://auth.example.com" }, wantErr: "Issuer: scheme"},
		{name: "issuer query", edit: func(c *Config) { c.Issuer = "https://auth.example.com/?a=b" }, wantErr: "Issuer: must not have a query"},
		{name: "issuer empty query", edit: func(c *Config) { c.Issuer = "https://auth.example.com/?" }, wantErr: "Issuer: must not have a query"},
		{name: "issuer fragment", edit: func(c *Config) { c.Issuer = "https://auth.example.com/#x" }, wantErr: "Issuer: must not have a query or fragment"},
		{name: "issuer user info", edit: func(c *Config) { c.Issuer = "https://u:p@auth.example.com" }, wantErr: "Issuer: must not contain user info"},
		{name: "negative access TTL", edit: func(c *Config) { c.AccessTokenTTL = -time.Second }, wantErr: "AccessTokenTTL: must be positive"},
		{name: "negative idle TTL", edit: func(c *Config) { c.RefreshIdleTTL = -time.Second }, wantErr: "RefreshIdleTTL: must be positive"},
		{name: "negative absolute TTL", edit: func(c *Config) { c.RefreshAbsoluteTTL = -time.Second }, wantErr: "RefreshAbsoluteTTL: must be positive"},
		{name: "negative leeway", edit: func(c *Config) { c.RefreshReuseLeeway = -time.Second }, wantErr: "RefreshReuseLeeway"},
		{name: "bad throttle", edit: func(c *Config) { c.ThrottleLimits.IPFailures = -1 }, wantErr: "ThrottleLimits.IPFailures"},
		{name: "bad throttle window", edit: func(c *Config) { c.ThrottleLimits.Window = -time.Second }, wantErr: "ThrottleLimits.Window"},
		{name: "proxies", edit: func(c *Config) { c.TrustedProxies = []string{"10.0.0.0/8", " 192.0.2.1", "fd00::/8"} }},
		{name: "empty audience", edit: func(c *Config) { c.Audience = []string{""} }, wantErr: "Audience: empty entry"},
		{name: "bad scope", edit: func(c *Config) { c.Scopes = []string{"a b"} }, wantErr: "Scopes[0]"},
		{name: "bad proxy", edit: func(c *Config) { c.TrustedProxies = []string{"10.0.0.0/8", "proxy.local"} }, wantErr: "TrustedProxies[1]"},
		{name: "no users", edit: func(c *Config) { c.Users = nil }, wantErr: "Users: required"},
		{name: "no clients", edit: func(c *Config) { c.Clients = nil }, wantErr: "Clients: required"},
		{name: "no refresh", edit: func(c *Config) { c.Refresh = nil }, wantErr: "Refresh: required"},
		{name: "no revocations", edit: func(c *Config) { c.Revocations = nil }, wantErr: "Revocations: required"},
		{name: "no feed", edit: func(c *Config) { c.Feed = nil }, wantErr: "Feed: required"},
		{name: "no throttle", edit: func(c *Config) { c.Throttle = nil }, wantErr: "Throttle: required"},
		{name: "no keys", edit: func(c *Config) { c.Keys = nil }, wantErr: "Keys: required"},
		{name: "no hasher", edit: func(c *Config) { c.Hasher = nil }, wantErr: "Hasher: required"},
		{name: "negative ping interval", edit: func(c *Config) { c.PingInterval = -time.Second }, wantErr: "PingInterval: must be positive"},
		{name: "negative max streams", edit: func(c *Config) { c.MaxStreams = -1 }, wantErr: "MaxStreams: must be positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var cfg Config
			newHarness(t, func(_ *harness, c *Config) { cfg = *c })
			tt.edit(&cfg)
			_, err := New(cfg)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("New: %v", err)
			case tt.wantErr != "" && err == nil:
				t.Fatalf("New accepted the config, want error %q", tt.wantErr)
			case tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr):
				t.Fatalf("New: %v, want error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	h := newHarness(t)
	c := h.srv.cfg
	if c.AccessTokenTTL != 15*time.Minute || c.RefreshIdleTTL != 14*24*time.Hour || c.RefreshAbsoluteTTL != 90*24*time.Hour ||
		c.RefreshReuseLeeway != 0 || len(c.Audience) != 1 || c.Audience[0] != testIssuer ||
		c.ThrottleLimits != (ThrottleLimits{UserFailures: 5, IPFailures: 100, Window: 5 * time.Minute}) ||
		c.PingInterval != 5*time.Second || c.MaxStreams != 1000 || c.ClientCacheTTL != 5*time.Second {
		t.Errorf("defaults %+v", c)
	}
}
