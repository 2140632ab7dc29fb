package main

import (
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// composeFile is the part of the Compose specification deploy/compose
// uses, decoded strictly: a misspelt key fails here rather than being
// ignored by docker compose.
type composeFile struct {
	Name         string                    `json:"name"`
	XTokenserver map[string]any            `json:"x-tokenserver"`
	Services     map[string]composeService `json:"services"`
	Networks     map[string]struct {
		IPAM struct {
			Config []struct {
				Subnet string `json:"subnet"`
			} `json:"config"`
		} `json:"ipam"`
	} `json:"networks"`
	Volumes map[string]struct{} `json:"volumes"`
}

type composeService struct {
	Image string `json:"image"`
	Build *struct {
		Context    string `json:"context"`
		Dockerfile string `json:"dockerfile"`
	} `json:"build,omitempty"`
	Command     []string          `json:"command,omitempty"`
	Environment map[string]string `json:"environment,omitempty"`
	DependsOn   map[string]struct {
		Condition string `json:"condition"`
	} `json:"depends_on,omitempty"`
	Healthcheck *struct {
		Test     []string `json:"test"`
		Interval string   `json:"interval"`
		Timeout  string   `json:"timeout"`
		Retries  int      `json:"retries"`
	} `json:"healthcheck,omitempty"`
	Volumes         []string `json:"volumes,omitempty"`
	Ports           []string `json:"ports,omitempty"`
	User            string   `json:"user,omitempty"`
	ReadOnly        bool     `json:"read_only,omitempty"`
	CapDrop         []string `json:"cap_drop,omitempty"`
	SecurityOpt     []string `json:"security_opt,omitempty"`
	StopGracePeriod string   `json:"stop_grace_period,omitempty"`
	Restart         string   `json:"restart,omitempty"`
	Networks        map[string]struct {
		IPv4Address string `json:"ipv4_address"`
	} `json:"networks,omitempty"`
	Deploy *struct {
		Resources struct {
			Limits struct {
				CPUs   string `json:"cpus"`
				Memory string `json:"memory"`
			} `json:"limits"`
		} `json:"resources"`
	} `json:"deploy,omitempty"`
}

// TestCompose checks deploy/compose/compose.yaml's structure (docker
// compose cannot run here): PostgreSQL 15 and Redis with their health
// checks and Redis' noeviction and AOF, the migration one-shot after a
// healthy PostgreSQL, three servers after a successful migration, HAProxy
// in front of all three; every setting exists in the server and the
// secret is never a literal. Where haproxy is installed, its config is
// checked with haproxy -c.
func TestCompose(t *testing.T) {
	const dir = "../../deploy/compose/"
	data, err := os.ReadFile(dir + "compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	docs := splitYAML(t, "compose.yaml", data)
	if len(docs) != 1 {
		t.Fatalf("compose.yaml: %d documents, want 1", len(docs))
	}
	var cf composeFile
	if err := decodeStrict(docs[0], &cf); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	known := map[string]settings{"serve": commandSettings(t, "serve"), "migrate": commandSettings(t, "migrate")}
	svc := func(name string) composeService {
		t.Helper()
		s, ok := cf.Services[name]
		if !ok {
			t.Fatalf("no service %s (have %v)", name, mapKeys(cf.Services))
		}
		return s
	}
	dependsOn := func(name, on, condition string) {
		t.Helper()
		if got := svc(name).DependsOn[on].Condition; got != condition {
			t.Errorf("%s depends on %s with condition %q, want %q", name, on, got, condition)
		}
	}

	if pg := svc("postgres"); pg.Image != "postgres:15" || pg.Healthcheck == nil {
		t.Errorf("postgres: image %q, healthcheck %v: want postgres:15 with a health check", pg.Image, pg.Healthcheck != nil)
	}
	redis := svc("redis")
	cmd := strings.Join(redis.Command, " ")
	for _, want := range []string{"--maxmemory-policy noeviction", "--appendonly yes"} {
		if !strings.Contains(cmd, want) {
			t.Errorf("redis command %q lacks %s", cmd, want)
		}
	}
	if redis.Healthcheck == nil {
		t.Errorf("redis has no health check (the servers wait for it)")
	}

	migrate := svc("migrate")
	dependsOn("migrate", "postgres", "service_healthy")
	if migrate.Restart != "no" {
		t.Errorf("migrate restart %q: a one-shot must not restart, or service_completed_successfully never comes", migrate.Restart)
	}

	replicas := []string{"tokenserver-1", "tokenserver-2", "tokenserver-3"}
	for name, s := range cf.Services {
		for on := range s.DependsOn {
			if _, ok := cf.Services[on]; !ok {
				t.Errorf("%s depends on %s, which is not a service", name, on)
			}
		}
		if s.Image != "" && strings.HasPrefix(s.Image, "tokenserver") {
			where := "compose service " + name
			st := checkArgs(t, where, s.Command, known)
			for env := range s.Environment {
				checkEnv(t, where, env, st)
			}
			if kek, ok := s.Environment["TOKENSERVER_KEK"]; ok && !strings.HasPrefix(kek, "${TOKENSERVER_KEK:?") {
				t.Errorf("%s: TOKENSERVER_KEK must come from the caller's environment (${TOKENSERVER_KEK:?...}), not the file", name)
			}
			if s.User != "65532:65532" || !s.ReadOnly || !slices.Contains(s.CapDrop, "ALL") {
				t.Errorf("%s: want user 65532:65532, read_only, cap_drop ALL", name)
			}
			if s.Build == nil || s.Build.Dockerfile != "deploy/Dockerfile" {
				t.Errorf("%s: want build from deploy/Dockerfile", name)
			}
		}
	}
	for _, r := range replicas {
		s := svc(r)
		if len(s.Command) == 0 || s.Command[0] != "serve" {
			t.Errorf("%s: command %q, want serve", r, s.Command)
		}
		dependsOn(r, "migrate", "service_completed_successfully")
		dependsOn(r, "redis", "service_healthy")
		for _, env := range []string{"DATABASE_URL", "REDIS_URL", "TOKENSERVER_KEK", "TOKENSERVER_ISSUER"} {
			if s.Environment[env] == "" {
				t.Errorf("%s: %s not set", r, env)
			}
		}
	}

	// The load balancer: HAProxy with its config, in front of every replica.
	lb := svc("haproxy")
	if !strings.HasPrefix(lb.Image, "haproxy:") {
		t.Errorf("haproxy image %q", lb.Image)
	}
	mount := ""
	for _, v := range lb.Volumes {
		if src, dst, _ := strings.Cut(v, ":"); strings.HasPrefix(dst, "/usr/local/etc/haproxy/haproxy.cfg") {
			mount = src
		}
	}
	cfg, err := os.ReadFile(dir + mount)
	if mount == "" || err != nil {
		t.Fatalf("haproxy: config mount %q: %v", mount, err)
	}
	for _, r := range replicas {
		if !regexp.MustCompile(`(?m)^\s*server\s+\S+\s+` + regexp.QuoteMeta(r) + `:8080(\s|$)`).Match(cfg) {
			t.Errorf("haproxy.cfg has no server line for %s:8080", r)
		}
		dependsOn("haproxy", r, "service_started")
	}
	if !regexp.MustCompile(`(?m)^\s*option\s+httpchk\s+GET\s+/readyz\s*$`).Match(cfg) {
		t.Errorf("haproxy.cfg does not health-check /readyz")
	}
	published := ""
	for _, p := range lb.Ports {
		if host, container, ok := strings.Cut(p, ":"); ok && container == "8080" {
			published = host
		}
	}
	for _, r := range replicas {
		s := svc(r)
		if want := fmt.Sprintf("http://localhost:%s", published); s.Environment["TOKENSERVER_ISSUER"] != want {
			t.Errorf("%s: TOKENSERVER_ISSUER %q, want %q (HAProxy's published port)", r, s.Environment["TOKENSERVER_ISSUER"], want)
		}
		if got, want := s.Environment["TOKENSERVER_TRUSTED_PROXIES"], lb.Networks["default"].IPv4Address; want == "" || got != want {
			t.Errorf("%s: TOKENSERVER_TRUSTED_PROXIES %q, want HAProxy's fixed address %q", r, got, want)
		}
	}

	if haproxy, err := exec.LookPath("haproxy"); err == nil {
		if out, err := exec.Command(haproxy, "-c", "-f", dir+mount).CombinedOutput(); err != nil {
			t.Errorf("haproxy -c -f %s: %v\n%s", mount, err, out)
		}
	} else {
		t.Log("haproxy not installed: haproxy.cfg checked only for its server lines and health check")
	}
}
