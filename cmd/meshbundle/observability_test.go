package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/meshbundle/meshbundle/dashboards"
	"github.com/meshbundle/meshbundle/failure"
	"github.com/meshbundle/meshbundle/rules"
)

func TestObservabilityCommands(t *testing.T) {
	ruleFile, err := os.ReadFile(filepath.Join("..", "..", "rules", "generated", rules.FileRuleFile))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string                            // case
		args     []string                          // command line
		env      map[string]string                 // environment
		wantCode failure.Kind                      // exit code
		check    func(t *testing.T, stdout string) // stdout check on success
		wantErr  string                            // part of stderr on failure
	}{
		{
			name: "sidecar ConfigMaps", args: []string{"dashboards", "render", "--format", "configmap", "-n", "monitoring"},
			check: func(t *testing.T, out string) {
				docs := strings.Split(out, "\n---\n")
				if len(docs) != len(dashboards.All()) {
					t.Fatalf("%d documents, want %d", len(docs), len(dashboards.All()))
				}
				for _, d := range docs {
					var cm struct {
						Kind     string
						Metadata struct {
							Namespace string
							Labels    map[string]string
						}
					}
					if err := yaml.Unmarshal([]byte(d), &cm); err != nil || cm.Kind != "ConfigMap" || cm.Metadata.Namespace != "monitoring" || cm.Metadata.Labels["grafana_dashboard"] != "1" {
						t.Errorf("not a sidecar ConfigMap in monitoring (%v):\n%.300s", err, d)
					}
				}
			},
		},
		{
			name: "grafana-operator online", args: []string{"dashboards", "render", "--format", "grafana-operator", "--online", "-o", "json"},
			check: func(t *testing.T, out string) {
				if strings.Count(out, `"grafanaCom"`) != 5 || strings.Contains(out, `"json":`) {
					t.Errorf("want 5 grafanaCom specs and no embedded JSON:\n%.500s", out)
				}
			},
		},
		{
			name: "plain rule file", args: []string{"rules", "render", "--format", "rule-file"},
			check: func(t *testing.T, out string) {
				if out != string(ruleFile) {
					t.Errorf("rule file differs from rules/generated/%s", rules.FileRuleFile)
				}
			},
		},
		{
			name: "operator objects with release label", args: []string{"rules", "render", "--label", "release=kube-prometheus-stack"},
			check: func(t *testing.T, out string) {
				if strings.Count(out, "release: kube-prometheus-stack") != 3 {
					t.Errorf("want the label on 3 objects:\n%s", out)
				}
			},
		},
		{name: "unknown dashboard format", args: []string{"dashboards", "render", "--format", "xml"}, wantCode: failure.BadInput, wantErr: "--format"},
		{name: "bad label", args: []string{"rules", "render", "--label", "release"}, wantCode: failure.BadInput, wantErr: "--label"},
		{name: "import without token", args: []string{"dashboards", "import", "--grafana-url", "http://127.0.0.1:1"}, env: map[string]string{"GRAFANA_TOKEN": ""}, wantCode: failure.BadInput, wantErr: "--token"},
		{name: "import with relative URL", args: []string{"dashboards", "import", "--grafana-url", "grafana:3000", "--token", "x"}, wantCode: failure.BadInput, wantErr: "--grafana-url"},
		{name: "kiali-proxy without console origin", args: []string{"kiali-proxy", "--host", "kiali.example.com"}, wantCode: failure.BadInput, wantErr: "--console-origin"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			var stdout, stderr bytes.Buffer
			code := run(tc.args, nil, &stdout, &stderr)
			if code != tc.wantCode {
				t.Fatalf("exit %d, want %d; stderr: %s", code, tc.wantCode, stderr.String())
			}
			if tc.wantCode != 0 {
				if stdout.Len() != 0 || !strings.Contains(stderr.String(), tc.wantErr) {
					t.Errorf("stdout %q, stderr %q: want empty stdout and %q in stderr", stdout.String(), stderr.String(), tc.wantErr)
				}
				return
			}
			tc.check(t, stdout.String())
		})
	}
}
