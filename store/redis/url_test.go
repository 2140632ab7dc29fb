package redis

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseURL(t *testing.T) {
	cases := []struct {
		name    string
		url     string
		addrs   []string
		cluster bool
		master  string
		db      int
		user    string
		pass    string
		tls     bool
		check   func(t *testing.T, username, password string)
	}{
		{name: "Single", url: "redis://127.0.0.1:6380/2", addrs: []string{"127.0.0.1:6380"}, db: 2},
		{name: "SingleDefaultPort", url: "redis://cache", addrs: []string{"cache:6379"}},
		{name: "SingleTLSAuth", url: "rediss://app:s3cret@cache:6380", addrs: []string{"cache:6380"}, user: "app", pass: "s3cret", tls: true},
		{name: "UnixSocket", url: "unix:///run/redis.sock?db=3", addrs: []string{"/run/redis.sock"}, db: 3},
		{name: "ClusterByAddr", url: "redis://n1:7000?addr=n2:7001&addr=n3:7002", addrs: []string{"n1:7000", "n2:7001", "n3:7002"}, cluster: true},
		{name: "ClusterScheme", url: "redis+cluster://:pw@n1:7000", addrs: []string{"n1:7000"}, cluster: true, pass: "pw"},
		{name: "ClusterTLS", url: "rediss+cluster://n1:7000", addrs: []string{"n1:7000"}, cluster: true, tls: true},
		{name: "Sentinel", url: "redis+sentinel://s1:26379,s2:26380/mymaster", addrs: []string{"s1:26379", "s2:26380"}, master: "mymaster"},
		{name: "SentinelDefaultPorts", url: "redis+sentinel://s1,s2,s3/mymaster/4", addrs: []string{"s1:26379", "s2:26379", "s3:26379"}, master: "mymaster", db: 4},
		{name: "SentinelAuth", url: "rediss+sentinel://app:pw@s1:26379/m?sentinel_password=spw&sentinel_username=sent", addrs: []string{"s1:26379"}, master: "m", user: "app", pass: "pw", tls: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o, err := parseURL(tc.url)
			if err != nil {
				t.Fatalf("parseURL: %v", err)
			}
			if !slices.Equal(o.Addrs, tc.addrs) {
				t.Errorf("Addrs = %v, want %v", o.Addrs, tc.addrs)
			}
			if o.IsClusterMode != tc.cluster || o.MasterName != tc.master || o.DB != tc.db {
				t.Errorf("cluster %v master %q db %d; want %v %q %d", o.IsClusterMode, o.MasterName, o.DB, tc.cluster, tc.master, tc.db)
			}
			if o.Username != tc.user || o.Password != tc.pass {
				t.Errorf("credentials %q/%q, want %q/%q", o.Username, o.Password, tc.user, tc.pass)
			}
			if (o.TLSConfig != nil) != tc.tls {
				t.Errorf("TLS = %v, want %v", o.TLSConfig != nil, tc.tls)
			}
		})
	}
	t.Run("SentinelCredentialsSeparate", func(t *testing.T) {
		o, err := parseURL("redis+sentinel://app:pw@s1/m?sentinel_username=sent&sentinel_password=spw")
		if err != nil {
			t.Fatal(err)
		}
		if o.SentinelUsername != "sent" || o.SentinelPassword != "spw" {
			t.Errorf("sentinel credentials %q/%q", o.SentinelUsername, o.SentinelPassword)
		}
	})
}

func TestParseURLRejects(t *testing.T) {
	for _, tc := range []struct{ name, url string }{
		{"NoScheme", "cache:6379"},
		{"UnknownScheme", "memcached://cache:11211"},
		{"ClusterReplicaReads", "redis://n1:7000?addr=n2:7001&read_only=true"},
		{"ClusterRandomRouting", "redis+cluster://n1:7000?route_randomly=true"},
		{"SentinelWithoutMaster", "redis+sentinel://s1:26379"},
		{"SentinelTooDeep", "redis+sentinel://s1:26379/m/0/x"},
		{"SentinelReplicaOnly", "redis+sentinel://s1/m?replica_only=true"},
		{"SentinelMasterOption", "redis+sentinel://s1/m?master_name=other"},
		{"UnknownOption", "redis://cache:6379?frobnicate=1"},
		{"BadPort", "redis://:topsecret@cache:port/0"},
		{"BadSentinelPort", "redis+sentinel://:topsecret@s1:port/m"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseURL(tc.url)
			if err == nil {
				t.Fatal("parseURL accepted it")
			}
			if strings.Contains(err.Error(), "topsecret") {
				t.Errorf("error leaks the password: %v", err)
			}
		})
	}
}

func TestOpenDefaults(t *testing.T) {
	cases := []struct {
		name                string
		cfg                 Config
		dial, read, write   time.Duration
		maxRetries, dialers int
	}{
		{"Defaults", Config{URL: "redis://cache"}, 2 * time.Second, time.Second, time.Second, 1, 1},
		{"Config", Config{URL: "redis://cache", DialTimeout: 5 * time.Second, ReadTimeout: 300 * time.Millisecond},
			5 * time.Second, 300 * time.Millisecond, 300 * time.Millisecond, 1, 1},
		{"URLKept", Config{URL: "redis://cache?dial_timeout=7s&read_timeout=2s&max_retries=4"},
			7 * time.Second, 2 * time.Second, 2 * time.Second, 4, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o, err := parseURL(tc.cfg.URL)
			if err != nil {
				t.Fatal(err)
			}
			applyDefaults(o, tc.cfg)
			if o.DialTimeout != tc.dial || o.ReadTimeout != tc.read || o.WriteTimeout != tc.write {
				t.Errorf("timeouts dial %v read %v write %v; want %v %v %v", o.DialTimeout, o.ReadTimeout, o.WriteTimeout, tc.dial, tc.read, tc.write)
			}
			if o.MaxRetries != tc.maxRetries || o.DialerRetries != tc.dialers || !o.ContextTimeoutEnabled {
				t.Errorf("retries %d dialer %d ctx %v", o.MaxRetries, o.DialerRetries, o.ContextTimeoutEnabled)
			}
		})
	}
}
