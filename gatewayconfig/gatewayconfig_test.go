package gatewayconfig

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
)

// header is the part every test document shares.
const header = "apiVersion: meshbundle.dev/v1alpha1\nkind: GatewayConfig\nmetadata:\n  name: public\n  namespace: istio-ingress\n"

// server builds one server entry of a test document.
func server(port, proto, hosts, tls string) string {
	s := "  - port: " + port + "\n    protocol: " + proto + "\n    hosts: " + hosts + "\n"
	if tls != "" {
		s += "    tls: " + tls + "\n"
	}
	return s
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name string // what is wrong
		doc  string // the GatewayConfig document
		want string // a substring the error must contain (field path and reason)
	}{
		{"duplicate port", header + "spec:\n  servers:\n" + server("80", "HTTP", "[a.example.com]", "") + server("80", "HTTP", "[b.example.com]", ""),
			"spec.servers[1].port: Duplicate value: \"80 (also spec.servers[0]"},
		{"TLS without credential", header + "spec:\n  servers:\n" + server("443", "HTTPS", "[a.example.com]", "{mode: SIMPLE}"),
			"spec.servers[0].tls.credentialName: Required value: tls.mode SIMPLE terminates TLS"},
		{"HTTPS without tls", header + "spec:\n  servers:\n" + server("443", "HTTPS", "[a.example.com]", ""),
			"spec.servers[0].tls: Required value"},
		{"host not a DNS name", header + "spec:\n  servers:\n" + server("80", "HTTP", "[Shop_Example]", ""),
			"spec.servers[0].hosts[0]: Invalid value: \"Shop_Example\": not a DNS name"},
		{"bad namespace prefix", header + "spec:\n  servers:\n" + server("80", "HTTP", "[Shop/a.example.com]", ""),
			"spec.servers[0].hosts[0]: Invalid value: \"Shop/a.example.com\": not a DNS name"},
		{"duplicate host", header + "spec:\n  servers:\n" + server("80", "HTTP", "[a.example.com, a.example.com]", ""),
			"spec.servers[0].hosts[1]: Duplicate value"},
		{"no hosts", header + "spec:\n  servers:\n" + server("80", "HTTP", "[]", ""), "spec.servers[0].hosts: Required value"},
		{"no servers", header + "spec:\n  servers: []\n", "spec.servers: Required value"},
		{"port out of range", header + "spec:\n  servers:\n" + server("70000", "HTTP", "[a.example.com]", ""), "spec.servers[0].port: Invalid value: 70000"},
		{"unknown protocol", header + "spec:\n  servers:\n" + server("80", "QUIC", "[a.example.com]", ""), "spec.servers[0].protocol: Unsupported value: \"QUIC\""},
		{"tls on plain HTTP", header + "spec:\n  servers:\n" + server("80", "HTTP", "[a.example.com]", "{mode: SIMPLE, credentialName: c}"), "spec.servers[0].tls: Forbidden"},
		{"credential on passthrough", header + "spec:\n  servers:\n" + server("443", "TLS", "[a.example.com]", "{mode: PASSTHROUGH, credentialName: c}"), "spec.servers[0].tls.credentialName: Forbidden"},
		{"auto passthrough on HTTPS", header + "spec:\n  servers:\n" + server("15443", "HTTPS", "[\"*.local\"]", "{mode: AUTO_PASSTHROUGH}"), "spec.servers[0].tls.mode: Invalid value: \"AUTO_PASSTHROUGH\": AUTO_PASSTHROUGH needs protocol TLS"},
		{"unknown tls mode", header + "spec:\n  servers:\n" + server("443", "HTTPS", "[a.example.com]", "{mode: STRICT}"), "spec.servers[0].tls.mode: Unsupported value"},
		{"bad secret name", header + "spec:\n  servers:\n" + server("443", "HTTPS", "[a.example.com]", "{mode: SIMPLE, credentialName: My_Cert}"), "spec.servers[0].tls.credentialName: Invalid value"},
		{"duplicate server name", header + "spec:\n  servers:\n  - {name: web, port: 80, protocol: HTTP, hosts: [a.example.com]}\n  - {name: web, port: 81, protocol: HTTP, hosts: [a.example.com]}\n", "spec.servers[1].name: Duplicate value"},
		{"bad selector", header + "spec:\n  selector: {\"istio\": \"not a value\"}\n  servers:\n" + server("80", "HTTP", "[a.example.com]", ""), "spec.selector[istio]: Invalid value"},
		{"unknown field", header + "spec:\n  servers:\n  - port: 443\n    protocol: HTTPS\n    hosts: [a.example.com]\n    tls: {mode: SIMPLE, credential: c}\n", `unknown field "spec.servers[0].tls.credential"`},
		{"duplicate field", header + "spec:\n  servers: []\n  servers: []\n", `"servers"`},
		{"wrong kind", "apiVersion: meshbundle.dev/v1alpha1\nkind: Gateway\nmetadata: {name: a, namespace: b}\nspec:\n  servers:\n" + server("80", "HTTP", "[a.example.com]", ""), "kind: Unsupported value"},
		{"missing namespace", "apiVersion: meshbundle.dev/v1alpha1\nkind: GatewayConfig\nmetadata: {name: a}\nspec:\n  servers:\n" + server("80", "HTTP", "[a.example.com]", ""), "metadata.namespace: Required value"},
		{"not yaml", "spec: [", "decode"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode([]byte(tt.doc))
			if err == nil {
				t.Fatalf("Decode accepted:\n%s", tt.doc)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

// TestMarshalStable: defaults are stable, a marshalled config decodes to
// itself (the rendering of testdata/<name>.yaml is gatewayobj's test).
func TestMarshalStable(t *testing.T) {
	inputs, _ := filepath.Glob("testdata/*.yaml")
	if len(inputs) == 0 {
		t.Fatal("no testdata")
	}
	for _, in := range inputs {
		name := strings.TrimSuffix(filepath.Base(in), ".yaml")
		t.Run(name, func(t *testing.T) {
			gc, err := Load(in)
			if err != nil {
				t.Fatal(err)
			}
			out, err := Marshal(gc)
			if err != nil {
				t.Fatal(err)
			}
			again, err := Decode(out)
			if err != nil {
				t.Fatalf("re-decode:\n%s\n%v", out, err)
			}
			if out2, _ := Marshal(again); !bytes.Equal(out, out2) {
				t.Errorf("marshal not stable:\n%s---\n%s", out, out2)
			}
		})
	}
}

func TestServesHost(t *testing.T) {
	gc, err := Load("testdata/public.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		ns, host string // the VirtualService's namespace and host
		want     bool   // whether the gateway admits it
	}{
		{"shop", "shop.example.com", true},            // exact host, any namespace
		{"other", "shop.example.com", true},           // unscoped hosts admit every namespace
		{"shop", "cart.shop.internal", true},          // wildcard scoped to namespace shop
		{"other", "cart.shop.internal", false},        // ... and only to it
		{"shop", "api.legacy.example.com", true},      // wildcard server
		{"shop", "blog.example.com", false},           // no server has it
		{"shop", "web.shop.svc.cluster.local", false}, // the mesh-internal host is not served
	}
	for _, tt := range tests {
		if got := gc.ServesHost(tt.ns, tt.host); got != tt.want {
			t.Errorf("ServesHost(%q, %q) = %v, want %v", tt.ns, tt.host, got, tt.want)
		}
	}
}

func TestSelector(t *testing.T) {
	gc, err := Load("testdata/eastwest.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if got := gc.Selector()["istio"]; got != "eastwestgateway" {
		t.Errorf("selector of istio-eastwestgateway = %v, want istio: eastwestgateway (the chart's label)", gc.Selector())
	}
	if gc.Ref() != "istio-system/istio-eastwestgateway" {
		t.Errorf("Ref = %q", gc.Ref())
	}
}
