package meshcheck

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"sigs.k8s.io/yaml"

	"github.com/meshbundle/meshbundle/appmesh"
)

// gatewayCRDValidator checks objects against the Gateway API CRDs of the
// standard channel that the sigs.k8s.io/gateway-api module (the version in
// go.mod) ships: their OpenAPI schema and their CEL rules, as the API
// server does on create.
type gatewayCRDValidator map[string]func(obj map[string]any) []string

func loadGatewayCRDs(t *testing.T) gatewayCRDValidator {
	t.Helper()
	dir, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "sigs.k8s.io/gateway-api").Output()
	if err != nil {
		t.Fatalf("locate the sigs.k8s.io/gateway-api module: %v", err)
	}
	files, _ := filepath.Glob(filepath.Join(strings.TrimSpace(string(dir)), "config", "crd", "standard", "gateway.networking.k8s.io_*.yaml"))
	out := gatewayCRDValidator{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var crd apiextensionsv1.CustomResourceDefinition
		if err := yaml.Unmarshal(data, &crd); err != nil || crd.Kind != "CustomResourceDefinition" {
			continue // the ValidatingAdmissionPolicy file
		}
		for _, v := range crd.Spec.Versions {
			if v.Name != "v1" || v.Schema == nil {
				continue
			}
			var internal apiextensions.CustomResourceValidation
			if err := apiextensionsv1.Convert_v1_CustomResourceValidation_To_apiextensions_CustomResourceValidation(v.Schema, &internal, nil); err != nil {
				t.Fatal(err)
			}
			sv, _, err := validation.NewSchemaValidator(internal.OpenAPIV3Schema)
			if err != nil {
				t.Fatal(err)
			}
			structural, err := schema.NewStructural(internal.OpenAPIV3Schema)
			if err != nil {
				t.Fatal(err)
			}
			celv := cel.NewValidator(structural, true, celconfig.PerCallLimit)
			out[crd.Spec.Names.Kind] = func(in map[string]any) []string {
				// As the API server: integers as int64, then the schema's
				// defaults (the CEL rules are written for defaulted objects).
				js, err := json.Marshal(in)
				if err != nil {
					return []string{err.Error()}
				}
				var obj map[string]any
				if err := utiljson.Unmarshal(js, &obj); err != nil {
					return []string{err.Error()}
				}
				defaulting.Default(obj, structural)
				var msgs []string
				for _, e := range validation.ValidateCustomResource(nil, obj, sv) {
					msgs = append(msgs, e.Error())
				}
				if celv != nil {
					errs, _ := celv.Validate(context.Background(), nil, structural, obj, nil, celconfig.RuntimeCELCostBudget)
					for _, e := range errs {
						msgs = append(msgs, e.Error())
					}
				}
				return msgs
			}
		}
	}
	for _, k := range []string{"HTTPRoute", "GRPCRoute", "TCPRoute", "Gateway"} {
		if out[k] == nil {
			t.Fatalf("no v1 CRD for %s in the module's standard channel", k)
		}
	}
	return out
}

// TestGatewayAPIObjectsPassTheCRDs: every Gateway API object the renderer
// writes for the charts and for each canary phase passes the CRDs' schema
// and CEL rules. Negative control: a backendRef without a port (the CEL
// rule "Must have port for Service reference") and a bad hostname fail.
func TestGatewayAPIObjectsPassTheCRDs(t *testing.T) {
	v := loadGatewayCRDs(t)
	check := func(t *testing.T, kube []string) int {
		n := 0
		for _, d := range kube {
			u := decode(t, d)
			if u.GroupVersionKind().Group != "gateway.networking.k8s.io" {
				continue
			}
			n++
			for _, m := range v[u.GetKind()](u.Object) {
				t.Errorf("%s %s: %s", u.GetKind(), u.GetName(), m)
			}
		}
		return n
	}
	for _, name := range chartNames(t) {
		c := loadChart(t, name)
		t.Run(name, func(t *testing.T) { check(t, applied(t, c.am.Metadata.Namespace, c.render(t)).kube) })
	}
	// The gatewayapi filter's input: a TCPRoute, a GRPCRoute, HTTPRoutes
	// with port parentRefs and a Gateway parent.
	in, err := os.ReadFile(filepath.Join("..", "testdata", "gatewayapi", "gateway.in.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	am, err := appmesh.Load(filepath.Join("..", "testdata", "gatewayapi", "gateway.appmesh.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	t.Run("gatewayapi/gateway", func(t *testing.T) {
		if n := check(t, applied(t, "shop", chart{name: "gateway", am: am, in: in}.render(t)).kube); n != 4 {
			t.Errorf("%d Gateway API objects, want 4", n)
		}
	})
	for _, lc := range lifecycles {
		for _, ph := range phasesIn(t, "app", lc, appmesh.RouteAPIGatewayAPI) {
			t.Run(lc.name+"/"+ph.name, func(t *testing.T) {
				if n := check(t, ph.out.kube); n == 0 {
					t.Error("no Gateway API object in the output")
				}
			})
		}
	}
	bad := decode(t, `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: bad, namespace: bookinfo}
spec:
  hostnames: ["Not_A_Host"]
  parentRefs: [{group: "", kind: Service, name: reviews}]
  rules:
  - backendRefs: [{name: reviews}]
`)
	if msgs := v["HTTPRoute"](bad.Object); len(msgs) < 2 {
		t.Errorf("negative control: %d messages for a route with a bad hostname and a port-less Service backend, want 2 or more: %v", len(msgs), msgs)
	} else {
		t.Logf("refused, as expected: %v", msgs)
	}
}
