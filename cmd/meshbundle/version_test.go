package main

import (
	"bytes"
	"encoding/json"
	"os"
	"testing"

	"golang.org/x/mod/modfile"

	"github.com/meshbundle/meshbundle/failure"
	"github.com/meshbundle/meshbundle/version"
)

// `meshbundle version -o json` reports the versions go.mod pins, read from the
// binary itself (this test binary links what the meshbundle binary links).
func TestVersionReportsPinnedModules(t *testing.T) {
	data, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	mf, err := modfile.Parse("go.mod", data, nil)
	if err != nil {
		t.Fatal(err)
	}
	pinned := map[string]string{}
	for _, r := range mf.Require {
		pinned[r.Mod.Path] = r.Mod.Version
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"version", "-o", "json"}, nil, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	var info version.Info
	if err := json.Unmarshal(stdout.Bytes(), &info); err != nil {
		t.Fatalf("version -o json: %v\n%s", err, stdout.String())
	}
	for _, tc := range []struct {
		module string // module path in go.mod
		got    string // what Get reported for it
	}{
		{version.IstioModule, info.Istio},
		{version.IstioAPIModule, info.IstioAPI},
		{version.HelmModule, info.Helm},
		{version.KubernetesModule, info.Kubernetes},
	} {
		if pinned[tc.module] == "" {
			t.Errorf("%s is not required in go.mod", tc.module)
			continue
		}
		if tc.got != pinned[tc.module] {
			t.Errorf("%s: reported %q, go.mod pins %q", tc.module, tc.got, pinned[tc.module])
		}
	}
	if info.Go == "" {
		t.Error("Go version not reported")
	}
}

// An unknown output format is bad input: exit 2, the flag named, nothing on stdout.
func TestVersionRejectsUnknownOutput(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run([]string{"version", "-o", "xml"}, nil, &stdout, &stderr)
	if code != failure.BadInput {
		t.Errorf("exit %d, want %d", code, failure.BadInput)
	}
	if stdout.Len() != 0 {
		t.Errorf("stdout not empty: %q", stdout.String())
	}
	if !bytes.Contains(stderr.Bytes(), []byte("--output")) {
		t.Errorf("error does not name the flag: %q", stderr.String())
	}
}
