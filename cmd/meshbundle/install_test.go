package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshbundle/meshbundle/failure"
	"github.com/meshbundle/meshbundle/installer"
)

// deadKubeconfig points at a port nothing listens on.
func deadKubeconfig(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "kubeconfig")
	body := `apiVersion: v1
kind: Config
clusters:
- {name: dead, cluster: {server: "https://127.0.0.1:1"}}
users:
- {name: u, user: {token: x}}
contexts:
- {name: dead, context: {cluster: dead, user: u}}
current-context: dead
`
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// The pipeline contract: exit codes, nothing on stdout on error, progress on
// stderr.
func TestInstallExitCodes(t *testing.T) {
	kc := deadKubeconfig(t)
	cases := []struct {
		name       string       // test name
		args       []string     // command line
		wantCode   failure.Kind // exit code
		wantStderr string       // substring of stderr
	}{
		{name: "negative sampling", args: []string{"install", "--dry-run", "--set", "meshConfig.defaultConfig.tracing.sampling=-1"}, wantCode: failure.BadInput, wantStderr: "sampling"},
		{name: "unknown IstioOperator field", args: []string{"install", "--dry-run", "--set", "meshConfg.x=1"}, wantCode: failure.BadInput, wantStderr: "meshConfg"},
		{name: "bad output format", args: []string{"install", "-o", "xml"}, wantCode: failure.BadInput, wantStderr: "--output"},
		{name: "missing context", args: []string{"install", "--kubeconfig", kc, "--context", "nope"}, wantCode: failure.BadInput, wantStderr: `context "nope"`},
		{name: "unreachable API server", args: []string{"install", "--kubeconfig", kc}, wantCode: failure.Unreachable, wantStderr: "unreachable"},
		{name: "status of unreachable cluster", args: []string{"status", "--kubeconfig", kc}, wantCode: failure.Unreachable, wantStderr: "unreachable"},
		{name: "timeout", args: []string{"install", "--dry-run", "--timeout", "1ns"}, wantCode: failure.Timeout, wantStderr: "--timeout"},
		{name: "uninstall bad input", args: []string{"uninstall", "--kubeconfig", kc, "--profile", "huge"}, wantCode: failure.BadInput, wantStderr: "huge"},
		{name: "--force without --delete-crds", args: []string{"uninstall", "--kubeconfig", kc, "--force"}, wantCode: failure.BadInput, wantStderr: "--force: only applies to --delete-crds"},
		{name: "--keep-crds with --delete-crds", args: []string{"uninstall", "--kubeconfig", kc, "--keep-crds", "--delete-crds"}, wantCode: failure.BadInput, wantStderr: "contradict"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(tc.args, strings.NewReader(""), &stdout, &stderr)
			if code != tc.wantCode {
				t.Errorf("exit code %d, want %d; stderr:\n%s", code, tc.wantCode, stderr.String())
			}
			if !strings.Contains(stderr.String(), tc.wantStderr) {
				t.Errorf("stderr lacks %q:\n%s", tc.wantStderr, stderr.String())
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout not empty on error:\n%s", stdout.String())
			}
		})
	}
}

// --dry-run prints manifests on stdout and progress on stderr; -o json gives
// the per-phase result with the manifests inside.
func TestInstallDryRunOutput(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"install", "--dry-run"}, nil, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	// The addons chart is compiled in: present whatever the working directory.
	for _, want := range []string{"# meshbundle release istio-base", "kind: CustomResourceDefinition", "# meshbundle release istio-ingress", "kind: Telemetry", "# meshbundle release meshbundle-addons"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("stdout lacks %q", want)
		}
	}
	for _, want := range []string{"validate", "base", "objects", "addons   done"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("progress on stderr lacks %q:\n%s", want, stderr.String())
		}
	}

	stdout.Reset()
	if code := run([]string{"install", "--dry-run", "-o", "json"}, nil, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d", code)
	}
	var res struct {
		Operation string `json:"operation"`
		ExitCode  int    `json:"exitCode"`
		Manifests string `json:"manifests"`
		Phases    []struct {
			Phase    string  `json:"phase"`
			State    string  `json:"state"`
			Objects  int     `json:"objects"`
			Elapsed  float64 `json:"elapsed"`
			Releases []struct {
				Name   string `json:"name"`
				Action string `json:"action"`
			} `json:"releases"`
		} `json:"phases"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("-o json is not JSON: %v\n%s", err, stdout.String())
	}
	if res.Operation != "install" || res.ExitCode != 0 || len(res.Phases) != len(installer.Phases) || !strings.Contains(res.Manifests, "kind: Deployment") {
		t.Errorf("unexpected JSON result: op=%s exit=%d phases=%d (want %d)", res.Operation, res.ExitCode, len(res.Phases), len(installer.Phases))
	}
	if res.Phases[1].Phase != "base" || res.Phases[1].Objects == 0 || res.Phases[1].Releases[0].Action != "rendered" {
		t.Errorf("base phase: %+v", res.Phases[1])
	}
}
