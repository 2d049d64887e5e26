package renderer

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/meshbundle/meshbundle/appmesh"
)

// FuzzRender feeds arbitrary streams to the full pipeline with an AppMesh
// generated to match the stream (fuzzMesh): routes, gateways and adoption,
// aliases of every variant, a canary in any phase and weight, port fix or
// enforce mode, an emitted Namespace, injected Jobs. Every filter runs on
// what it would see in use. It must never panic, and either fail with
// nothing written or write output that reads back as a stream, that a
// second render writes byte for byte again, whose patches mean what the
// edited trees mean, and that is what the slow path (the same pipeline
// keeping every tree: runFilters) writes, object for object and byte for
// byte.
// The seed corpus is every input under testdata, with a few knob values.
func FuzzRender(f *testing.F) {
	inputs, _ := filepath.Glob(filepath.Join("testdata", "*", "*.in.yaml"))
	for i, in := range inputs {
		data, err := os.ReadFile(in)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, uint32(0))
		f.Add(data, uint32(0xffffffff))
		f.Add(data, uint32(i)*0x9e3779b9)
	}
	f.Fuzz(func(t *testing.T, data []byte, knobs uint32) {
		am := fuzzMesh(data, knobs)
		var out bytes.Buffer
		if err := New(am, nil).Render(bytes.NewReader(data), &out); err != nil {
			if out.Len() != 0 {
				t.Fatalf("error %v but %d bytes written", err, out.Len())
			}
			sameWithoutScanner(t, am, data, nil, err)
			return
		}
		if _, err := (Reader{Namespace: "shop"}).Read(bytes.NewReader(out.Bytes())); err != nil {
			t.Fatalf("output does not read back: %v\n%s", err, out.Bytes())
		}
		var again bytes.Buffer
		if err := New(am, nil).Render(bytes.NewReader(data), &again); err != nil || !bytes.Equal(out.Bytes(), again.Bytes()) {
			t.Fatalf("a second render differs (err %v)", err)
		}
		sameWithoutScanner(t, am, data, out.Bytes(), nil)
		rs, err := runFilters(am, data)
		if err != nil {
			t.Fatalf("the slow path failed: %v", err)
		}
		checkPatches(t, rs)
		sameObjects(t, out.Bytes(), rs)
		var listed bytes.Buffer
		if err := (Writer{}).Write(&listed, rs); err != nil || !bytes.Equal(out.Bytes(), listed.Bytes()) {
			t.Fatalf("Render and the slow path wrote different bytes (err %v)", err)
		}
	})
}

// sameWithoutScanner fails unless Render with every document parsed by
// yaml.v3 (the scanner off) writes out byte for byte, or fails with the
// same error.
func sameWithoutScanner(t *testing.T, am *appmesh.AppMesh, data, out []byte, renderErr error) {
	t.Helper()
	yamlOnly = true
	defer func() { yamlOnly = false }()
	var slow bytes.Buffer
	err := New(am, nil).Render(bytes.NewReader(data), &slow)
	if fmt.Sprint(err) != fmt.Sprint(renderErr) {
		t.Fatalf("with the scanner: error %v; yaml.v3 alone: error %v", renderErr, err)
	}
	if !bytes.Equal(slow.Bytes(), out) {
		t.Fatalf("the scanner changed the output:\n%s\nyaml.v3 alone:\n%s", out, slow.Bytes())
	}
}

// fuzzMesh builds a valid AppMesh for the Services and Deployments of the
// stream (none when it does not read): the knob bits choose which filters
// see what. A part the AppMesh validation refuses is left out.
func fuzzMesh(data []byte, knobs uint32) *appmesh.AppMesh {
	bit := func(i int) bool { return knobs>>i&1 == 1 }
	am := &appmesh.AppMesh{APIVersion: appmesh.APIVersion, Kind: appmesh.Kind, Metadata: appmesh.Metadata{Name: "fuzz", Namespace: "shop"}}
	am.Spec.Injection.EmitNamespace = !bit(0)
	am.Spec.Injection.Jobs = bit(1)
	am.Spec.Ports.Mode = appmesh.PortModeFix
	if bit(10) { // shared with the 8th Service's route knob, which few inputs reach
		am.Spec.RouteAPI = appmesh.RouteAPIGatewayAPI
		if bit(1) { // Jobs matter only to sidecars
			am.Spec.Dataplane = appmesh.DataplaneAmbient
		}
	}
	if bit(2) {
		am.Spec.Ports.Mode = appmesh.PortModeEnforce
	}
	rs, _ := Reader{Namespace: "shop"}.Read(bytes.NewReader(data))
	var services, deployments []string
	for _, r := range rs {
		if r.IsHook() || len(validation.IsDNS1123Label(r.Name)) > 0 {
			continue
		}
		switch {
		case r.is("", "Service"):
			services = append(services, r.Name)
		case r.is("apps", "Deployment"):
			deployments = append(deployments, r.Name)
		}
	}
	for i, svc := range services {
		k := (knobs >> (3 + i%8)) & 1
		if k == 0 && i > 0 {
			continue
		}
		route := appmesh.Route{Service: svc, Adopt: bit(11) && am.Spec.RouteAPI != appmesh.RouteAPIGatewayAPI}
		if bit(12) {
			route.Gateway = "istio-ingress/public"
			route.Hosts = []string{svc + ".shop.example.com"}
		}
		am.Spec.Routes = append(am.Spec.Routes, route)
		if bit(13 + i%3) {
			name := "alias-" + svc
			if bit(16) {
				name = svc + ".fuzz.internal"
			}
			a := appmesh.Alias{Name: name, Service: svc}
			if bit(17) {
				a.Variant = appmesh.AliasServiceEntryDNS
			}
			am.Spec.Aliases = append(am.Spec.Aliases, a)
		}
	}
	phases := []appmesh.CanaryPhase{appmesh.CanaryLabelling, appmesh.CanaryPinning, appmesh.CanaryStarting, appmesh.CanaryProgressing, appmesh.CanaryPromoting,
		appmesh.CanaryStabilizing, appmesh.CanaryAborting, appmesh.CanaryRemoving, appmesh.CanaryUnlabelling}
	if len(deployments) > 0 && !bit(18) {
		c := &appmesh.Canary{Target: deployments[int(knobs>>19)%len(deployments)], Version: "v9", Image: "example/fuzz:9", Phase: phases[(knobs>>22)%8]}
		switch c.Phase {
		case appmesh.CanaryProgressing:
			c.Weight = int32(knobs>>25) % 101
		case appmesh.CanaryPromoting, appmesh.CanaryStabilizing:
			c.Weight = 100
		}
		am.Spec.Canary = c
	}
	appmesh.SetDefaults(am)
	for len(appmesh.Validate(am)) > 0 {
		// Leave out what validation refuses, the most specific part first.
		switch {
		case am.Spec.Canary != nil:
			am.Spec.Canary = nil
		case len(am.Spec.Aliases) > 0:
			am.Spec.Aliases = nil
		case len(am.Spec.Routes) > 0:
			am.Spec.Routes = nil
		default:
			panic(fmt.Sprintf("fuzzMesh: the base AppMesh is invalid: %v", appmesh.Validate(am)))
		}
	}
	return am
}

// TestFuzzMeshCoversEveryFilter: on the canary chart the knobs reach a
// route, an alias of each kind, a gateway, adoption and every canary phase,
// so the fuzz target drives every filter, not only inject and ports.
func TestFuzzMeshCoversEveryFilter(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "canary", "app.in.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	phases := map[appmesh.CanaryPhase]bool{}
	var routes, aliases, gateways, adopt, dns, custom, gatewayAPI, ambient int
	for k := uint32(0); k < 1<<10; k++ {
		knobs := k*0x9e3779b9 + k
		am := fuzzMesh(data, knobs)
		if c := am.Spec.Canary; c != nil {
			phases[c.Phase] = true
		}
		routes += len(am.Spec.Routes)
		if am.Spec.RouteAPI == appmesh.RouteAPIGatewayAPI {
			gatewayAPI += len(am.Spec.Routes)
		}
		if am.Spec.Dataplane == appmesh.DataplaneAmbient {
			ambient += len(am.Spec.Routes)
		}
		for _, r := range am.Spec.Routes {
			if r.Gateway != "" {
				gateways++
			}
			if r.Adopt {
				adopt++
			}
		}
		for _, a := range am.Spec.Aliases {
			aliases++
			if a.Variant == appmesh.AliasServiceEntryDNS {
				dns++
			}
			if a.Variant == appmesh.AliasServiceEntryEDS {
				custom++
			}
		}
	}
	if len(phases) != 8 || routes == 0 || aliases == 0 || gateways == 0 || adopt == 0 || dns == 0 || custom == 0 || gatewayAPI == 0 || gatewayAPI == routes || ambient == 0 || ambient == gatewayAPI {
		t.Errorf("phases %v, routes %d (gateway-api %d, ambient %d), aliases %d (dns %d, eds %d), gateways %d, adopt %d: some filter is never driven", phases, routes, gatewayAPI, ambient, aliases, dns, custom, gateways, adopt)
	}
	// Negative control: an input without Services gets no routes.
	if am := fuzzMesh([]byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n"), 0xffffffff); len(am.Spec.Routes) > 0 || am.Spec.Canary != nil {
		t.Errorf("routes or canary for a stream without Services: %+v", am.Spec)
	}
}
