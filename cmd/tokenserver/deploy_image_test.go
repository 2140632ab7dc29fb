package main

import (
	"encoding/json"
	"io"
	"net"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// dockerInstruction is one Dockerfile instruction, continuation lines joined.
type dockerInstruction struct {
	cmd  string // upper case: FROM, RUN, ...
	args string
}

// readDockerfile parses the few Dockerfile rules the checks need:
// comments, blank lines, and backslash continuations.
func readDockerfile(t *testing.T, path string) []dockerInstruction {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []dockerInstruction
	var cur strings.Builder
	for line := range strings.SplitSeq(string(b), "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") || (trimmed == "" && cur.Len() == 0) {
			continue
		}
		if more, ok := strings.CutSuffix(trimmed, `\`); ok {
			cur.WriteString(more + " ")
			continue
		}
		cur.WriteString(trimmed)
		cmd, args, _ := strings.Cut(strings.TrimSpace(cur.String()), " ")
		out = append(out, dockerInstruction{cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args)})
		cur.Reset()
	}
	return out
}

// finalStage is the instructions from the last FROM on: the image.
func finalStage(ins []dockerInstruction) []dockerInstruction {
	last := 0
	for i, in := range ins {
		if in.cmd == "FROM" {
			last = i
		}
	}
	return ins[last:]
}

// dockerEnv is the ENV key=value pairs of a stage.
func dockerEnv(t *testing.T, stage []dockerInstruction) map[string]string {
	t.Helper()
	env := map[string]string{}
	for _, in := range stage {
		if in.cmd != "ENV" {
			continue
		}
		for _, kv := range strings.Fields(in.args) {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				t.Fatalf("ENV %s: use the key=value form", in.args)
			}
			env[k] = v
		}
	}
	return env
}

func dockerJSON(t *testing.T, stage []dockerInstruction, cmd string) []string {
	t.Helper()
	for _, in := range stage {
		if in.cmd == cmd {
			var v []string
			if err := json.Unmarshal([]byte(in.args), &v); err != nil {
				t.Fatalf("%s %s: want the exec (JSON array) form: %v", cmd, in.args, err)
			}
			return v
		}
	}
	t.Fatalf("no %s in the final stage", cmd)
	return nil
}

// TestDockerfile checks what issue 12 found wrong with the image: a user
// name where Kubernetes' runAsNonRoot needs a number, the metrics port not
// exposed, and the rules that keep the image small and static.
func TestDockerfile(t *testing.T) {
	ins := readDockerfile(t, "../../deploy/Dockerfile")
	image := finalStage(ins)
	if base := image[0].args; !regexp.MustCompile(`^gcr\.io/distroless/static-[a-z0-9]+:nonroot$`).MatchString(base) {
		t.Errorf("final stage FROM %s, want gcr.io/distroless/static-*:nonroot", base)
	}
	if len(image) == len(ins) {
		t.Errorf("a single stage: the Go toolchain would ship in the image")
	}
	var users, exposed []string
	for _, in := range ins {
		switch in.cmd {
		case "HEALTHCHECK":
			t.Errorf("HEALTHCHECK %s: probes come from the orchestrator (distroless has no client to run one)", in.args)
		case "RUN":
			if strings.Contains(in.args, "go build") && !strings.Contains(in.args, "CGO_ENABLED=0") {
				t.Errorf("RUN %s: build with CGO_ENABLED=0, the static base has no libc", in.args)
			}
		}
	}
	for _, in := range image {
		switch in.cmd {
		case "USER":
			users = append(users, in.args)
		case "EXPOSE":
			exposed = append(exposed, strings.Fields(in.args)...)
		}
	}
	// runAsNonRoot can only verify a numeric user: "image has non-numeric user".
	if len(users) != 1 || !regexp.MustCompile(`^[0-9]+:[0-9]+$`).MatchString(users[0]) || users[0] != "65532:65532" {
		t.Errorf("USER %q, want exactly one, numeric: 65532:65532 (distroless nonroot)", users)
	}
	for _, p := range []string{"8080", "9090"} {
		if !slices.Contains(exposed, p) {
			t.Errorf("EXPOSE %v lacks %s", exposed, p)
		}
	}
	env := dockerEnv(t, image)
	serve := commandSettings(t, "serve")
	for name := range env {
		checkEnv(t, "Dockerfile ENV", name, serve)
	}
	_, port, err := net.SplitHostPort(env["TOKENSERVER_ADDR"])
	if err != nil || !slices.Contains(exposed, port) {
		t.Errorf("TOKENSERVER_ADDR=%q: its port is not exposed (%v)", env["TOKENSERVER_ADDR"], exposed)
	}
	if got := dockerJSON(t, image, "ENTRYPOINT"); !slices.Equal(got, []string{"/tokenserver"}) {
		t.Errorf("ENTRYPOINT %q, want [/tokenserver]", got)
	}
	checkArgs(t, "Dockerfile CMD", dockerJSON(t, image, "CMD"), map[string]settings{"serve": serve})

	ignore, err := os.ReadFile("../../.dockerignore")
	if err != nil {
		t.Fatalf(".dockerignore: %v", err)
	}
	if !slices.Contains(strings.Fields(string(ignore)), ".git") {
		t.Errorf(".dockerignore does not exclude .git")
	}
}

// TestImageDefaultNeedsIssuer: the image's own defaults (its ENV and CMD,
// nothing else) stop at start with a message naming the setting to add,
// and start once TOKENSERVER_ISSUER is set as the README's docker run line
// sets it. It stays an error: a demo on all interfaces without an issuer
// the operator chose would mint tokens for a guessed URL.
func TestImageDefaultNeedsIssuer(t *testing.T) {
	image := finalStage(readDockerfile(t, "../../deploy/Dockerfile"))
	vars := dockerEnv(t, image)
	args := dockerJSON(t, image, "CMD")

	r := runFull(t, vars, "", args...)
	if r.err == nil {
		t.Fatalf("the image's default started without an issuer")
	}
	for _, want := range []string{"set TOKENSERVER_ISSUER (or --issuer)", "http://localhost:8080"} {
		if !strings.Contains(r.report, want) {
			t.Errorf("report %q does not say %q", r.report, want)
		}
	}

	vars["TOKENSERVER_ISSUER"] = "http://localhost:8080" // as in the README
	if _, err := parseServeConfig(env{getenv: envFrom(vars), stderr: io.Discard}, args[1:]); err != nil {
		t.Fatalf("the image's default with TOKENSERVER_ISSUER: %v", err)
	}
}
