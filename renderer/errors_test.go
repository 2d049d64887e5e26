package renderer

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/meshbundle/meshbundle/appmesh"
)

// TestRenderBadInput: every bad input fails with a message that names the
// object and field, and nothing is written to the output.
func TestRenderBadInput(t *testing.T) {
	const svc = "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  selector: {app: web}\n  ports:\n  - {name: http, port: 80}\n"
	const headless = "apiVersion: v1\nkind: Service\nmetadata:\n  name: db\nspec:\n  clusterIP: None\n  selector: {app: db}\n  ports:\n  - {name: tcp, port: 5432}\n"
	const sts = "apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: db\nspec:\n  template:\n    metadata:\n      labels: {app: web}\n"
	const chartVS = "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n  name: web-chart\n  namespace: shop\nspec:\n  hosts: [web]\n"
	tests := []struct {
		name   string   // what is wrong
		input  string   // the rendered chart
		config string   // AppMesh spec (indented under spec:), "" for defaults
		want   []string // substrings the error must contain
	}{
		{name: "malformed YAML", input: "apiVersion: v1\nkind: [\n", want: []string{"document 1", "malformed YAML"}},
		{name: "not an object: sequence", input: "- a\n- b\n", want: []string{"document 1", "not a Kubernetes object", "sequence"}},
		{name: "not an object: scalar", input: svc + "---\njust text\n", want: []string{"document 2", "scalar"}},
		{name: "missing kind and name", input: "apiVersion: v1\nmetadata: {}\n", want: []string{"missing kind, metadata.name"}},
		{name: "duplicate object", input: svc + "---\n" + svc, want: []string{"document 2", "duplicate Service web", "document 1"}},
		{name: "duplicate with release namespace", input: svc + "---\n" + strings.Replace(svc, "name: web\n", "name: web\n  namespace: shop\n", 1), config: "  ports: {mode: enforce}\n", want: []string{"duplicate Service shop/web"}},
		{name: "bad port name in enforce mode", input: strings.Replace(svc, "name: http,", "name: web,", 1), want: []string{"Service web port 80", `spec.ports[0].name "web"`, `name it "http-web"`}},
		{name: "unknown port in fix mode", input: strings.Replace(svc, "{name: http, port: 80}", "{name: metrics, port: 9090}", 1), config: "  ports: {mode: fix}\n", want: []string{"Service web port 9090", "not a well-known port", "spec.ports.rename"}},
		{name: "rename to an unknown protocol", input: svc, config: "  ports:\n    rename: [{service: web, port: 80, name: web}]\n", want: []string{"spec.ports.rename", `"web" does not name a protocol`}},
		{name: "rename of a missing port", input: svc, config: "  ports:\n    rename: [{service: web, port: 81, name: http-x}]\n", want: []string{"spec.ports.rename[0]", "no Service \"web\" with port 81"}},
		{name: "ServiceMonitor over differently renamed ports", input: strings.Replace(svc, "name: web\n", "name: a\n  labels: {tier: x}\n", 1) + "---\n" +
			strings.Replace(strings.Replace(svc, "name: web\n", "name: b\n  labels: {tier: x}\n", 1), "{name: http, port: 80}", "{name: http, port: 443}", 1) + "---\n" +
			"apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata: {name: m}\nspec:\n  selector: {matchLabels: {tier: x}}\n  endpoints: [{port: http}]\n",
			config: "  ports:\n    rename:\n    - {service: a, port: 80, name: http-a}\n    - {service: b, port: 443, name: https-b}\n",
			want:   []string{"ServiceMonitor m spec.endpoints[0].port \"http\"", "http-a, https-b"}},
		{name: "route to missing Service", input: svc, config: "  routes: [{service: webb}]\n", want: []string{"spec.routes[0].service", `no Service "webb"`, "use one of: web"}},
		{name: "route to headless Service", input: headless, config: "  routes: [{service: db}]\n", want: []string{"spec.routes[0].service", "Service db is headless"}},
		{name: "route to StatefulSet", input: svc + "---\n" + sts, config: "  routes: [{service: web}]\n", want: []string{"selects StatefulSet db"}},
		{name: "route port missing", input: svc, config: "  routes: [{service: web, port: 81}]\n", want: []string{"spec.routes[0].port", "no port 81"}},
		{name: "chart VS for the same host", input: svc + "---\n" + chartVS, config: "  routes: [{service: web}]\n", want: []string{"VirtualService shop/web-chart", "host web.shop.svc.cluster.local", "adopt: true"}},
		// routeAPI gateway-api
		{name: "gateway-api: UDP port has no route kind", input: strings.Replace(svc, "{name: http, port: 80}", "{name: udp-dns, port: 53, protocol: UDP}", 1), config: "  routeAPI: gateway-api\n  routes: [{service: web}]\n",
			want: []string{"spec.routes[0].service", `Service web port 53 ("udp-dns") is UDP`, "no Gateway API route kind", "fix:"}},
		{name: "gateway-api: the chosen port is UDP", input: strings.Replace(svc, "{name: http, port: 80}", "{name: http, port: 80}\n  - {name: udp-dns, port: 53, protocol: UDP}", 1), config: "  routeAPI: gateway-api\n  routes: [{service: web, port: 53}]\n",
			want: []string{"spec.routes[0].port", "is UDP", "set port to a TCP, HTTP or gRPC port"}},
		{name: "gateway-api: chart VS for the host", input: svc + "---\n" + chartVS, config: "  routeAPI: gateway-api\n  routes: [{service: web}]\n",
			want: []string{"spec.routes[0]", "VirtualService shop/web-chart", "remove the VirtualService from the chart"}},
		{name: "gateway-api: per-version Service name taken", input: svc + "---\n" + strings.Replace(svc, "name: web\n", "name: web-v1\n", 1) + "---\n" + versioned("v1"), config: "  routeAPI: gateway-api\n  routes: [{service: web}]\n",
			want: []string{"spec.routes[0].service", "already renders Service web-v1", `version "v1" of Service web`, "rename that Service"}},
		{name: "gateway-api: version label no Service name", input: svc + "---\n" + versioned("1.2"), config: "  routeAPI: gateway-api\n  routes: [{service: web}]\n",
			want: []string{"spec.routes[0].service", `Service "web-1.2"`, "not a valid Service name", "e.g. v1-2"}},
		{name: "gateway-api: hosts on a TCP route", input: strings.Replace(svc, "{name: http, port: 80}", "{name: tcp, port: 80}", 1), config: "  routeAPI: gateway-api\n  routes: [{service: web, hosts: [shop.example.com]}]\n",
			want: []string{"spec.routes[0].hosts", "a TCPRoute has no hostnames"}},
		{name: "ambient: waypoint name taken", input: svc + "---\napiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata:\n  name: shop-waypoint\nspec:\n  gatewayClassName: istio\n  listeners: []\n", config: "  dataplane: ambient\n  routes: [{service: web}]\n",
			want: []string{"AppMesh metadata.name", `waypoint of app "shop" is Gateway "shop-waypoint"`, "the chart already renders Gateway shop-waypoint", "fix:"}},
		{name: "alias to missing Service", input: svc, config: "  aliases: [{name: shop, service: nope}]\n", want: []string{"spec.aliases[0].service", `no Service "nope"`}},
		// The document's template, from Helm's "# Source:" comment.
		{name: "bad port name names its template", input: "# Source: shop/templates/svc.yaml\n" + strings.Replace(svc, "name: http,", "name: web,", 1),
			want: []string{"Service web (# Source: shop/templates/svc.yaml) port 80", `spec.ports[0].name "web"`}},
		{name: "Helm 4: bad port name names its template", input: strings.Replace(strings.Replace(svc, "name: http,", "name: web,", 1), "name: web\n", "name: web\n  annotations: {postrenderer.helm.sh/postrender-filename: shop/templates/svc.yaml}\n", 1),
			want: []string{"Service web (# Source: shop/templates/svc.yaml) port 80", `spec.ports[0].name "web"`}},
		{name: "malformed YAML names its template", input: svc + "---\n# Source: shop/templates/cm.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {a: 1, a: 2}\n",
			want: []string{"document 2 (# Source: shop/templates/cm.yaml)", `duplicate key "a"`, "keep one of them"}},
		{name: "namespace not a string", input: "# Source: shop/templates/cm.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: [x]}\n",
			want: []string{"document 1 (# Source: shop/templates/cm.yaml)", "metadata.namespace is not a string"}},
		{name: "List item not an object", input: "# Source: shop/templates/list.yaml\napiVersion: v1\nkind: List\nitems: [x]\n",
			want: []string{"document 1 (# Source: shop/templates/list.yaml)", "items[0]", "not a Kubernetes object"}},
		{name: "alias collides with a chart Service", input: svc + "---\n" + strings.Replace(svc, "name: web\n", "name: shop\n", 1), config: "  aliases: [{name: shop, service: web}]\n", want: []string{"generated Service shop collides"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			am := appmesh.Default()
			if tt.config != "" {
				var err error
				am, err = appmesh.Decode([]byte("apiVersion: meshbundle.dev/v1alpha1\nkind: AppMesh\nmetadata:\n  name: shop\n  namespace: shop\nspec:\n" + tt.config))
				if err != nil {
					t.Fatal(err)
				}
			}
			var out bytes.Buffer
			err := New(am, nil).Render(strings.NewReader(tt.input), &out)
			if err == nil {
				t.Fatalf("Render accepted the input:\n%s", out.String())
			}
			if out.Len() != 0 {
				t.Errorf("Render wrote %d bytes despite the error", out.Len())
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if !hasFix(err.Error()) {
				t.Errorf("error %q says no fix: every refusal ends its message with (fix: ...)", err)
			}
		})
	}
}

// hasFix reports whether msg says what to do: "(fix: " and some words.
func hasFix(msg string) bool {
	_, fix, ok := strings.Cut(msg, "(fix: ")
	return ok && len(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(fix), ")"))) > 0
}

// TestHasFixControl: the check above fails messages without a fix.
func TestHasFixControl(t *testing.T) {
	for msg, want := range map[string]bool{
		`Service web port 80 (spec.ports[0].name "web"): Istio cannot tell its protocol (fix: name it "http-web")`: true,
		`AppMesh spec.routes[0].port: Service web has no port 81`:                                                  false,
		`AppMesh spec.routes[0].port: Service web has no port 81 (fix: )`:                                          false,
	} {
		if got := hasFix(msg); got != want {
			t.Errorf("hasFix(%q) = %v, want %v", msg, got, want)
		}
	}
}

// TestPostRendererShape: Run has Helm's postrender.PostRenderer shape
// (checked against Helm itself in meshcheck) and returns nil on error.
func TestPostRendererShape(t *testing.T) {
	var pr interface {
		Run(*bytes.Buffer) (*bytes.Buffer, error)
	} = New(nil, nil)
	out, err := pr.Run(bytes.NewBufferString("- not an object\n"))
	if err == nil || out != nil {
		t.Fatalf("Run(bad) = %v, %v; want nil, error", out, err)
	}
	out, err = pr.Run(bytes.NewBufferString("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n"))
	if err != nil || !strings.Contains(out.String(), "name: x") {
		t.Fatalf("Run(good) = %q, %v", out, err)
	}
}

// TestDuplicateKeysInWideMappings: the duplicate-key check of a wide
// mapping (one set per mapping instead of a scan per key, so a ConfigMap
// of 100 000 keys costs its keys, not their square) still finds a repeat
// at either end; the same mapping without it renders.
func TestDuplicateKeysInWideMappings(t *testing.T) {
	wide := wideDocument("configmap", 50000)
	for _, tt := range []struct {
		name string // where the repeat is
		in   []byte // the document
		want string // error substring; "" renders
	}{
		{"no repeat", wide, ""},
		{"last key repeats the first", append(bytes.Clone(wide), "  key-0: again\n"...), `duplicate key "key-0" at line 50007 (also line 7) under data`},
		{"repeat in a small mapping", []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  name: b\n"), `duplicate key "name" at line 5 (also line 4) under metadata`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := New(nil, nil).Render(bytes.NewReader(tt.in), io.Discard)
			switch {
			case tt.want == "" && err != nil:
				t.Fatal(err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("error %v, want %q", err, tt.want)
			}
		})
	}
}

// versioned is a Deployment of web's pods with a version label.
func versioned(version string) string {
	return "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata:\n      labels: {app: web, version: \"" + version + "\"}\n    spec: {containers: [{name: web, image: web}]}\n"
}
