package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/meshbundle/meshbundle/installer"
)

// readInstallJSON reads what `meshbundle install -o json` writes (the
// installer's own Result type, marshalled), so a renamed field fails here.
func TestReadInstallJSON(t *testing.T) {
	release := func(name string, a installer.Action) installer.ReleaseResult {
		return installer.ReleaseResult{Name: name, Namespace: "istio-system", Action: a}
	}
	cases := []struct {
		name        string           // subtest name
		result      installer.Result // what meshbundle printed
		wantOrder   []string         // phases in order
		wantBase    time.Duration    // the base phase's time
		wantWritten []string         // releases the run wrote
	}{
		{
			name: "no-op re-run",
			result: installer.Result{Phases: []installer.PhaseResult{
				{Phase: installer.PhaseValidate, Elapsed: installer.Duration(200 * time.Millisecond)},
				{Phase: installer.PhaseBase, Elapsed: installer.Duration(412 * time.Millisecond), Releases: []installer.ReleaseResult{release("istio-base", installer.ActionUnchanged)}},
			}},
			wantOrder: []string{"validate", "base"}, wantBase: 412 * time.Millisecond,
		},
		{
			name: "re-run that upgraded",
			result: installer.Result{Phases: []installer.PhaseResult{
				{Phase: installer.PhaseBase, Elapsed: installer.Duration(time.Second), Releases: []installer.ReleaseResult{release("istio-base", installer.ActionUnchanged)}},
				{Phase: installer.PhaseIstiod, Releases: []installer.ReleaseResult{release("istiod", installer.ActionUpgraded), release("meshbundle-mesh", installer.ActionUnchanged)}},
			}},
			wantOrder: []string{"base", "istiod"}, wantBase: time.Second, wantWritten: []string{"istiod upgraded"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, err := json.Marshal(tc.result)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "result.json")
			if err := os.WriteFile(path, b, 0o600); err != nil {
				t.Fatal(err)
			}
			pt, written, err := readInstallJSON(path)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(pt.order, tc.wantOrder) || pt.took["base"] != tc.wantBase || !slices.Equal(written, tc.wantWritten) {
				t.Errorf("got order %v, base %s, written %v; want %v, %s, %v", pt.order, pt.took["base"], written, tc.wantOrder, tc.wantBase, tc.wantWritten)
			}
		})
	}
	t.Run("not JSON", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "result.json")
		if err := os.WriteFile(path, []byte("PHASE  RELEASE\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, _, err := readInstallJSON(path); err == nil {
			t.Error("no error for a table instead of JSON")
		}
	})
}
