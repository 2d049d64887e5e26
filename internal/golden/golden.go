// Package golden is the one golden-file check of the repository's tests:
// compare output with a committed file, or rewrite the file when
// UPDATE_GOLDEN is set (to any value), so every golden and generated file is
// refreshed the same way.
package golden

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"testing"
)

// Updating reports whether the run rewrites golden files (UPDATE_GOLDEN set).
func Updating() bool { return os.Getenv("UPDATE_GOLDEN") != "" }

// Check compares got with the file at path; when updating, it writes got
// there instead. refresh is the command that regenerates the file, shown
// when the file is missing or differs.
func Check(t testing.TB, path string, got []byte, refresh string) {
	t.Helper()
	if Updating() {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Errorf("%s: %v (create it with %s)", path, err, refresh)
		return
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (accept with %s and commit it):\n%s", path, refresh, Diff(string(want), string(got)))
	}
}

// Diff shows the first differing line, enough to spot a change.
func Diff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(w) || i < len(g); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			return "line " + strconv.Itoa(i+1) + ":\n- " + wl + "\n+ " + gl
		}
	}
	return "(same lines, different bytes)"
}
