// Package promtool finds or builds Prometheus' promtool, pinned by go.mod
// (`tool github.com/prometheus/prometheus/cmd/promtool`), for tests that
// check and unit-test rule files with the real Prometheus rule engine.
package promtool

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

const pkg = "github.com/prometheus/prometheus/cmd/promtool"

// Binary returns the path of a promtool built from the module's pinned
// Prometheus. In order: $PROMTOOL; promtool in $MESHBUNDLE_BIN or
// <repo>/.tools/bin (where ci/tools.sh links what it builds); a copy built
// once into the user cache, keyed by Go and Prometheus versions.
// The first build takes a few minutes; a file lock keeps parallel test
// packages from building it twice.
func Binary() (string, error) {
	if p := os.Getenv("PROMTOOL"); p != "" {
		return p, nil
	}
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	binDir := os.Getenv("MESHBUNDLE_BIN")
	if binDir == "" {
		binDir = filepath.Join(root, ".tools", "bin")
	}
	if p := filepath.Join(binDir, "promtool"); isExecutable(p) {
		return p, nil
	}
	key, err := buildKey(root)
	if err != nil {
		return "", err
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("promtool: no cache dir: %w (set PROMTOOL to a promtool binary)", err)
	}
	dir := filepath.Join(cache, "meshbundle", "promtool")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("promtool: %w", err)
	}
	bin := filepath.Join(dir, "promtool-"+key)
	if isExecutable(bin) {
		return bin, nil
	}
	lock, err := os.OpenFile(filepath.Join(dir, "build.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", fmt.Errorf("promtool: %w", err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", fmt.Errorf("promtool: lock: %w", err)
	}
	if isExecutable(bin) { // another package built it while we waited
		return bin, nil
	}
	cmd := exec.Command("go", "build", "-o", bin+".tmp", pkg)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("promtool: go build %s: %w\n%s", pkg, err, out)
	}
	return bin, os.Rename(bin+".tmp", bin)
}

func isExecutable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("promtool: go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", fmt.Errorf("promtool: not inside the meshbundle module")
	}
	return filepath.Dir(mod), nil
}

func buildKey(root string) (string, error) {
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Version}}", "github.com/prometheus/prometheus")
	cmd.Dir = root
	ver, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("promtool: go list prometheus version: %w", err)
	}
	gover, err := exec.Command("go", "env", "GOVERSION").Output()
	if err != nil {
		return "", fmt.Errorf("promtool: go env GOVERSION: %w", err)
	}
	h := sha256.Sum256(append(ver, gover...))
	return strings.TrimSpace(string(ver)) + "-" + hex.EncodeToString(h[:6]), nil
}

// Run runs promtool with args and fails the test, printing promtool's
// output, when it exits non-zero. It fails (never skips) when promtool
// cannot be built: the rule tests are the only proof the rules work.
func Run(t testing.TB, args ...string) string {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		t.Fatalf("promtool unavailable: %v", err)
	}
	var out bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	return out.String()
}
