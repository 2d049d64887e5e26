package testcluster

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// BinDir is where ci/tools.sh links the binaries it builds: $MESHBUNDLE_BIN,
// else <repo>/.tools/bin found by walking up from the working directory to the
// repository's go.mod.
func BinDir() (string, error) {
	if dir := os.Getenv("MESHBUNDLE_BIN"); dir != "" {
		return filepath.Abs(dir)
	}
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, ".tools", "bin"), nil
}

// RepoRoot is the directory of meshbundle's go.mod (not a ci/tools module's).
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if data, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil &&
			len(data) > 0 && containsModuleLine(string(data), "github.com/meshbundle/meshbundle") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("testcluster: not inside the meshbundle repository (no go.mod for github.com/meshbundle/meshbundle above the working directory)")
		}
		dir = parent
	}
}

func containsModuleLine(gomod, module string) bool {
	for _, line := range splitLines(gomod) {
		if line == "module "+module {
			return true
		}
	}
	return false
}

func splitLines(s string) []string {
	var lines []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			lines = append(lines, s[start:i])
			start = i + 1
		}
	}
	return append(lines, s[start:])
}

// Bin returns the path of a binary built by ci/tools.sh, or an error telling
// how to build it. Tests must fail on this error, never skip: a missing
// component means the test proves nothing.
func Bin(name string) (string, error) {
	dir, err := BinDir()
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, name)
	info, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("testcluster: %s is not built (looked in %s): run `make tools` (ci/tools.sh %s)", name, dir, name)
	}
	if err != nil {
		return "", fmt.Errorf("testcluster: %s: %w", name, err)
	}
	if info.Mode()&0o111 == 0 && !info.IsDir() {
		return "", fmt.Errorf("testcluster: %s is not executable: rebuild it with ci/tools.sh %s", path, name)
	}
	return path, nil
}
