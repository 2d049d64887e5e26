package golden

import (
	"os"
	"path/filepath"
	"testing"
)

// Check passes on equal bytes, fails on different or missing files, and
// rewrites the file when UPDATE_GOLDEN is set.
func TestCheck(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.golden")
	if err := os.WriteFile(path, []byte("a\nb\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string // case
		path     string // golden file
		got      string // output under test
		wantFail bool   // Check must report a failure
	}{
		{"equal", path, "a\nb\n", false},
		{"different", path, "a\nc\n", true},
		{"missing", filepath.Join(dir, "none.golden"), "a\n", true},
	} {
		ft := &testing.T{}
		done := make(chan struct{})
		go func() { defer close(done); Check(ft, tc.path, []byte(tc.got), "UPDATE_GOLDEN=1 go test") }()
		<-done
		if ft.Failed() != tc.wantFail {
			t.Errorf("%s: failed=%v, want %v", tc.name, ft.Failed(), tc.wantFail)
		}
	}
	t.Setenv("UPDATE_GOLDEN", "1")
	Check(t, path, []byte("new\n"), "")
	if b, _ := os.ReadFile(path); string(b) != "new\n" {
		t.Errorf("UPDATE_GOLDEN=1 did not rewrite the file: %q", b)
	}
	if got := Diff("a\nb", "a\nc"); got != "line 2:\n- b\n+ c" {
		t.Errorf("Diff = %q", got)
	}
}
