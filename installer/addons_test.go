package installer

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/meshbundle/meshbundle/failure"
)

// kialiProxySets enable kiali-proxy through the installer with every value
// the chart requires.
var kialiProxySets = []string{
	"addons.kialiProxy.enabled=true",
	"addons.kialiProxy.consoleOrigins[0]=https://console.example.com",
	"addons.kialiProxy.hosts[0]=kiali.example.com",
	"addons.kialiProxy.tls.secretName=kiali-proxy-tls",
}

// --set addons.* reaches the meshbundle-addons release: kiali-proxy is
// installed when enabled and only then; values the chart refuses are bad
// input at plan time, before any release is written.
func TestAddonsSets(t *testing.T) {
	cases := []struct {
		name       string   // test name
		set        []string // Source.Set
		noAddons   bool     // Source.NoAddons
		wantProxy  bool     // kiali-proxy Deployment in the addons release
		wantErr    string   // substring of the bad-input error ("" = none)
		wantIstiod bool     // the IstioOperator sets still reach istiod's release
	}{
		// Negative control: by default nothing enables the proxy.
		{name: "default: no kiali-proxy"},
		{name: "kiali-proxy enabled", set: kialiProxySets, wantProxy: true},
		{name: "mixed with IstioOperator sets", set: append([]string{"meshConfig.defaultConfig.tracing.sampling=10"}, kialiProxySets...), wantProxy: true, wantIstiod: true},
		{name: "chart refuses missing hosts", set: []string{"addons.kialiProxy.enabled=true", "addons.kialiProxy.consoleOrigins[0]=https://console.example.com"},
			wantErr: "kialiProxy.hosts: required"},
		{name: "unparsable set", set: []string{"addons.kialiProxy.hosts[x=a"}, wantErr: "--set addons.kialiProxy.hosts[x=a"},
		{name: "addons set with --no-addons", set: kialiProxySets, noAddons: true, wantErr: "with --no-addons"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := Source{Set: tc.set, NoAddons: tc.noAddons, NoGateway: true}
			if tc.wantErr != "" {
				_, err := Install(context.Background(), Options{Source: src, DryRun: true})
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				var bad *failure.BadInputError
				if !errors.As(err, &bad) {
					t.Errorf("error %T is not a failure.BadInputError (exit code 2)", err)
				}
				return
			}
			objs := dryRun(t, src)
			hasProxy := false
			for _, o := range objs[ReleaseAddons] {
				if o.GetKind() == "Deployment" && o.GetName() == "kiali-proxy" {
					hasProxy = true
				}
			}
			if hasProxy != tc.wantProxy {
				t.Errorf("kiali-proxy Deployment in %s: %v, want %v", ReleaseAddons, hasProxy, tc.wantProxy)
			}
			if tc.wantProxy {
				d := find(t, objs[ReleaseAddons], "Deployment", "kiali-proxy")
				if imgs := imagesOf(d); len(imgs) != 1 || strings.HasSuffix(imgs[0], ":latest") || !strings.Contains(imgs[0], ":") {
					t.Errorf("kiali-proxy image %v: want the chart's versioned tag", imgs)
				}
			}
			if tc.wantIstiod {
				cm := find(t, objs[ReleaseIstiod], "ConfigMap", "istio")
				if mesh, _ := cm.Object["data"].(map[string]any)["mesh"].(string); !strings.Contains(mesh, "sampling: 10") {
					t.Errorf("IstioOperator --set lost next to addons.* sets: mesh config\n%s", mesh)
				}
			}
		})
	}
}
