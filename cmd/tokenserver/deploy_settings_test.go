package main

import (
	"slices"
	"strings"
	"testing"
)

// The deploy/ tests check that every setting the image, the Kubernetes
// manifests and the compose file name exists in the server. They read the
// settings from `tokenserver <command> -h`, the list operators see.

// runtimeEnv are variables read by the Go runtime or by libraries rather
// than by a flag; deployment files may set them.
func runtimeEnv(name string) bool {
	switch name {
	case "GOMEMLIMIT", "GOMAXPROCS", "GOGC", "GODEBUG":
		return true
	}
	return strings.HasPrefix(name, "OTEL_") // tracing (issue 11): the standard OTel variables
}

// settings are the flags of one command and their environment twins.
type settings struct {
	flags map[string]bool // "addr"
	envs  map[string]bool // "TOKENSERVER_ADDR"
}

// commandSettings runs `tokenserver <command...> -h` and collects the flags
// it lists ("  --addr [TOKENSERVER_ADDR]", "  --json (flag only)").
func commandSettings(t *testing.T, command ...string) settings {
	t.Helper()
	r := runFull(t, nil, "", append(command, "-h")...)
	if r.err != nil {
		t.Fatalf("tokenserver %s -h: %v", strings.Join(command, " "), r.err)
	}
	s := settings{flags: map[string]bool{}, envs: map[string]bool{}}
	for line := range strings.SplitSeq(r.stderr, "\n") {
		rest, ok := strings.CutPrefix(line, "  --")
		if !ok {
			continue
		}
		name, twin, _ := strings.Cut(rest, " ")
		s.flags[name] = true
		if env, ok := strings.CutPrefix(twin, "["); ok {
			s.envs[strings.TrimSuffix(env, "]")] = true
		}
	}
	if len(s.flags) == 0 {
		t.Fatalf("tokenserver %s -h listed no flags:\n%s", strings.Join(command, " "), r.stderr)
	}
	return s
}

// checkArgs checks a container's arguments: a subcommand of tokenserver,
// then only flags that subcommand has (--name or --name=value).
func checkArgs(t *testing.T, where string, args []string, known map[string]settings) settings {
	t.Helper()
	if len(args) == 0 {
		t.Errorf("%s: no arguments: the image's CMD is serve, say it explicitly", where)
		return settings{}
	}
	s, ok := known[args[0]]
	if !ok {
		t.Errorf("%s: %q is not a tokenserver command this test knows (%v)", where, args[0], mapKeys(known))
		return settings{}
	}
	for _, a := range args[1:] {
		name, ok := strings.CutPrefix(a, "--")
		if !ok {
			continue // a flag's value
		}
		name, _, _ = strings.Cut(name, "=")
		if !s.flags[name] {
			t.Errorf("%s: tokenserver %s has no flag --%s", where, args[0], name)
		}
	}
	return s
}

// checkEnv checks that the server reads a variable a deployment file sets.
func checkEnv(t *testing.T, where, name string, s settings) {
	t.Helper()
	if !s.envs[name] && !runtimeEnv(name) {
		t.Errorf("%s: environment variable %s is no setting of the server", where, name)
	}
}

func mapKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
