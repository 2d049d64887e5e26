package main

import (
	"slices"
	"testing"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/releaseutil"
	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/yaml"

	addonschart "github.com/meshbundle/meshbundle/charts/meshbundle-addons"
)

// The addons chart's kiali-proxy Deployment passes flags this command has,
// with the values the chart was given: the chart and the CLI cannot drift.
func TestKialiProxyChartArgs(t *testing.T) {
	ch, err := addonschart.Load()
	if err != nil {
		t.Fatal(err)
	}
	install := action.NewInstall(&action.Configuration{})
	install.DryRun, install.ClientOnly, install.Replace = true, true, true
	install.ReleaseName, install.Namespace = "meshbundle-addons", "istio-system"
	rel, err := install.Run(ch, map[string]any{"kialiProxy": map[string]any{
		"enabled":        true,
		"consoleOrigins": []any{"https://console.example.com"},
		"hosts":          []any{"kiali.example.com"},
		"tls":            map[string]any{"secretName": "kiali-proxy-tls"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	var args []string
	for _, m := range releaseutil.SplitManifests(rel.Manifest) {
		var d appsv1.Deployment
		if err := yaml.Unmarshal([]byte(m), &d); err != nil {
			t.Fatal(err)
		}
		if d.Kind == "Deployment" && d.Name == "kiali-proxy" {
			args = d.Spec.Template.Spec.Containers[0].Args
		}
	}
	if len(args) == 0 {
		t.Fatal("no kiali-proxy Deployment (or no args) rendered")
	}
	cmd := newKialiProxyCmd()
	if err := cmd.ParseFlags(args); err != nil {
		t.Fatalf("chart args %q: %v", args, err)
	}
	for flag, want := range map[string]string{
		"upstream": "http://kiali.istio-system:20001", "web-root": "/kiali", "listen": ":8443",
		"tls-cert": "/etc/kiali-proxy/tls/tls.crt", "tls-key": "/etc/kiali-proxy/tls/tls.key",
	} {
		if got := cmd.Flags().Lookup(flag).Value.String(); got != want {
			t.Errorf("--%s = %q, want %q", flag, got, want)
		}
	}
	for flag, want := range map[string]string{"console-origin": "https://console.example.com", "host": "kiali.example.com"} {
		got, _ := cmd.Flags().GetStringArray(flag)
		if !slices.Equal(got, []string{want}) {
			t.Errorf("--%s = %q, want [%q]", flag, got, want)
		}
	}
}
