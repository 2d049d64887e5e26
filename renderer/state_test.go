package renderer

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/meshbundle/meshbundle/appmesh"
)

// FuzzStateYAML checks that stateYAML prints every AppMesh byte for byte
// as appmesh.Marshal (sigs.k8s.io/yaml) does: the AppMeshes of the golden
// inputs' configs and of the fuzz meshes, with the fuzzer's strings and
// numbers in the fields a user writes.
func FuzzStateYAML(f *testing.F) {
	f.Add("web", "istio-ingress/public", "web.shop.example.com", "alias-web", "registry.example/web:2", "v2", 80, 10, true)
	f.Add("yes", "a/b", "*.example.com", "web.bench.internal", "x", "on", 0, 100, false)
	f.Add("svc-0001", "ns/gw", "Null", "N", "image: 1", "1.0", -1, 50, true)
	f.Add("a b", "", "", "", "", "", 65535, 0, false)
	f.Fuzz(func(t *testing.T, svc, gateway, host, alias, image, version string, port, weight int, flag bool) {
		am := &appmesh.AppMesh{APIVersion: appmesh.APIVersion, Kind: appmesh.Kind, Metadata: appmesh.Metadata{Name: svc, Namespace: version}}
		am.Spec.Ports.Mode = appmesh.PortModeFix
		am.Spec.Injection.Jobs = flag
		am.Spec.Injection.Revision = version
		am.Spec.Routes = []appmesh.Route{{Service: svc, Port: int32(port), Gateway: gateway, Hosts: []string{host, alias}}, {Service: alias}}
		am.Spec.Aliases = []appmesh.Alias{{Name: alias, Service: svc}, {Name: host, Service: svc, Variant: appmesh.AliasVariant(version)}}
		if flag {
			am.Spec.Canary = &appmesh.Canary{Target: svc, Version: version, Image: image, Weight: int32(weight), Phase: appmesh.CanaryPhase(gateway)}
		}
		checkStateYAML(t, am)
		appmesh.SetDefaults(am)
		checkStateYAML(t, am)
	})
}

// checkStateYAML fails when stateYAML and appmesh.Marshal differ on am
// (bytes, or whether they fail: yaml.v2 refuses control characters).
func checkStateYAML(t *testing.T, am *appmesh.AppMesh) {
	t.Helper()
	got, err := stateYAML(am)
	want, wantErr := appmesh.Marshal(am)
	if (err == nil) != (wantErr == nil) {
		t.Fatalf("stateYAML: %v, appmesh.Marshal: %v", err, wantErr)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("stateYAML and appmesh.Marshal differ:\n%s\nappmesh.Marshal:\n%s", got, want)
	}
}

// TestStateYAMLFastPath runs the agreement check on every golden config
// and the make-bench-shaped AppMesh, and proves the fast path prints the
// bench's (a negative control for "they agree": emitPlain takes it).
func TestStateYAMLFastPath(t *testing.T) {
	configs, _ := filepath.Glob(filepath.Join("testdata", "*", "*appmesh*.yaml"))
	for _, c := range configs {
		data, err := os.ReadFile(c)
		if err != nil {
			t.Fatal(err)
		}
		am, err := appmesh.Decode(data)
		if err != nil {
			continue // the refused ones
		}
		checkStateYAML(t, am)
	}
	var am appmesh.AppMesh
	am.APIVersion, am.Kind, am.Metadata = appmesh.APIVersion, appmesh.Kind, appmesh.Metadata{Name: "bench", Namespace: "shop"}
	am.Spec.Ports.Mode = appmesh.PortModeFix
	for _, svc := range []string{"svc-0000", "svc-0010"} {
		am.Spec.Routes = append(am.Spec.Routes, appmesh.Route{Service: svc, Gateway: "istio-ingress/public", Hosts: []string{svc + ".shop.example.com"}})
		am.Spec.Aliases = append(am.Spec.Aliases, appmesh.Alias{Name: "alias-" + svc, Service: svc}, appmesh.Alias{Name: svc + ".bench.internal", Service: svc})
	}
	am.Spec.Canary = &appmesh.Canary{Target: "svc-0000", Version: "v2", Image: "registry.example/shop/app:2.0.0", Weight: 10, Phase: appmesh.CanaryPhase("Progressing")}
	appmesh.SetDefaults(&am)
	checkStateYAML(t, &am)
	m, err := plain(&am)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := emitPlain(nil, m); !ok {
		t.Fatal("emitPlain does not print the bench's AppMesh: stateYAML would always fall back")
	}
}
