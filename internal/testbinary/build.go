// Package testbinary builds the tokenserver binary for the tests that run it
// as a process of its own (test/faults, test/cluster).
package testbinary

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Build builds cmd/tokenserver and returns the binary's path.
//
// storetest.Main exits the process, so a TestMain cannot remove a temporary
// directory afterwards. The binary therefore lives at a path keyed by tag
// (one per test package) and the module root (one file per checkout,
// overwritten by each run), and is replaced by an atomic rename, so a
// concurrent run of the same checkout keeps executing the file it started
// with.
func Build(tag string) (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("not inside the tokenserver module")
	}
	root := filepath.Dir(gomod)
	sum := sha256.Sum256([]byte(root))
	dir := filepath.Join(os.TempDir(), "tokenserver-"+tag+"-"+hex.EncodeToString(sum[:6]))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("build dir: %w", err)
	}
	tmp, err := os.CreateTemp(dir, "tokenserver-*.tmp")
	if err != nil {
		return "", fmt.Errorf("build dir: %w", err)
	}
	tmp.Close()
	defer os.Remove(tmp.Name()) // gone after the rename; cleans up a failed build
	cmd := exec.Command("go", "build", "-o", tmp.Name(), "./cmd/tokenserver")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/tokenserver: %w\n%s", err, out)
	}
	bin := filepath.Join(dir, "tokenserver")
	if err := os.Rename(tmp.Name(), bin); err != nil {
		return "", fmt.Errorf("install binary: %w", err)
	}
	return bin, nil
}
