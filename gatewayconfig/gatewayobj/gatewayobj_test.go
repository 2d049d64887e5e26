package gatewayobj

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	gwapi "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/yaml"

	"github.com/meshbundle/meshbundle/gatewayconfig"
	"github.com/meshbundle/meshbundle/internal/golden"
)

// The inputs and goldens are gatewayconfig's testdata.
const testdata = "../testdata"

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

// TestIstioGolden renders testdata/<name>.yaml to the Istio Gateway in
// testdata/<name>.gateway.golden (UPDATE_GOLDEN=1 rewrites them).
func TestIstioGolden(t *testing.T) {
	inputs, _ := filepath.Glob(filepath.Join(testdata, "*.yaml"))
	if len(inputs) == 0 {
		t.Fatal("no testdata")
	}
	for _, in := range inputs {
		name := strings.TrimSuffix(filepath.Base(in), ".yaml")
		t.Run(name, func(t *testing.T) {
			gc, err := gatewayconfig.Load(in)
			if err != nil {
				t.Fatal(err)
			}
			got, err := yaml.Marshal(Istio(gc))
			if err != nil {
				t.Fatal(err)
			}
			golden.Check(t, filepath.Join(testdata, name+".gateway.golden"), got, "UPDATE_GOLDEN=1 go test ./gatewayconfig/gatewayobj")
		})
	}
}

// TestGatewayAPIGolden translates testdata/<name>.yaml to the Gateway
// API Gateway in testdata/<name>.gatewayapi.golden, or to the refusal when a
// field has no Gateway API equivalent (UPDATE_GOLDEN=1 rewrites them).
func TestGatewayAPIGolden(t *testing.T) {
	inputs, _ := filepath.Glob(filepath.Join(testdata, "*.yaml"))
	for _, in := range inputs {
		name := strings.TrimSuffix(filepath.Base(in), ".yaml")
		t.Run(name, func(t *testing.T) {
			gc, err := gatewayconfig.Load(in)
			if err != nil {
				t.Fatal(err)
			}
			gw, errs := GatewayAPI(gc, "ClusterIP")
			var got []byte
			if len(errs) > 0 {
				got = []byte("# refused\n" + errs.ToAggregate().Error() + "\n")
			} else if got, err = yaml.Marshal(gw); err != nil {
				t.Fatal(err)
			}
			golden.Check(t, filepath.Join(testdata, name+".gatewayapi.golden"), got, "UPDATE_GOLDEN=1 go test ./gatewayconfig/gatewayobj")
		})
	}
}

// TestGatewayAPI: one server at a time, what becomes of it.
func TestGatewayAPI(t *testing.T) {
	tests := []struct {
		name    string // the case
		spec    string // the GatewayConfig's spec
		want    string // listeners as "name port protocol hostname from tls", one per listener, joined by "; "
		wantErr string // or a substring of the refusal (field path and fix)
	}{
		{"HTTP for every host", "servers:\n" + server("80", "HTTP", `["*"]`, ""),
			"http-80 80 HTTP - All -", ""},
		{"two hosts make two listeners", "servers:\n" + server("80", "HTTP", "[a.example.com, b.example.com]", ""),
			"http-80-0 80 HTTP a.example.com All -; http-80-1 80 HTTP b.example.com All -", ""},
		{"a host in two namespaces is one listener", "servers:\n" + server("80", "HTTP", "[x/a.example.com, y/a.example.com]", ""),
			"http-80 80 HTTP a.example.com Selector[x y] -", ""},
		{"own namespace by name or dot is Same", "servers:\n" + server("80", "HTTP", "[istio-ingress/a.example.com, ./a.example.com]", ""),
			"http-80 80 HTTP a.example.com Same -", ""},
		{"any namespace wins", "servers:\n" + server("80", "HTTP", `[x/a.example.com, "*/a.example.com"]`, ""),
			"http-80 80 HTTP a.example.com All -", ""},
		{"SIMPLE terminates with the Secret", "servers:\n" + server("443", "HTTPS", "[a.example.com]", "{mode: SIMPLE, credentialName: a-cert}"),
			"https-443 443 HTTPS a.example.com All Terminate[a-cert]{}", ""},
		{"MUTUAL is Istio's terminate option", "servers:\n" + server("443", "HTTPS", "[a.example.com]", "{mode: MUTUAL, credentialName: a-cert}"),
			"https-443 443 HTTPS a.example.com All Terminate[a-cert]{MUTUAL}", ""},
		{"ISTIO_MUTUAL needs no Secret", "servers:\n" + server("443", "HTTPS", "[a.example.com]", "{mode: ISTIO_MUTUAL}"),
			"https-443 443 HTTPS a.example.com All Terminate[]{ISTIO_MUTUAL}", ""},
		{"PASSTHROUGH", "servers:\n" + server("443", "TLS", `["*.example.com"]`, "{mode: PASSTHROUGH}"),
			"tls-443 443 TLS *.example.com All Passthrough[]{}", ""},
		{"TCP limited to a namespace", "servers:\n" + server("5432", "TCP", `["db/*"]`, ""),
			"tcp-5432 5432 TCP - Selector[db] -", ""},
		{"selector", "selector: {istio: ingressgateway}\nservers:\n" + server("80", "HTTP", `["*"]`, ""),
			"", "spec.selector: Forbidden: a Gateway API gateway runs on the pods istiod creates"},
		{"GRPC", "servers:\n" + server("8080", "GRPC", `["*"]`, ""),
			"", `spec.servers[0].protocol: Invalid value: "GRPC": no Gateway API listener protocol; use protocol HTTP`},
		{"HTTP2", "servers:\n" + server("8080", "HTTP2", `["*"]`, ""),
			"", `spec.servers[0].protocol: Invalid value: "HTTP2"`},
		{"MONGO", "servers:\n" + server("27017", "MONGO", `["*"]`, ""),
			"", "use protocol TCP"},
		{"AUTO_PASSTHROUGH", "servers:\n" + server("15443", "TLS", `["*.local"]`, "{mode: AUTO_PASSTHROUGH}"),
			"", `spec.servers[0].tls.mode: Invalid value: "AUTO_PASSTHROUGH": no Gateway API equivalent`},
		{"TCP with a hostname", "servers:\n" + server("5432", "TCP", "[db.example.com]", ""),
			"", `spec.servers[0].hosts: Invalid value: ["db.example.com"]: a Gateway API TCP listener has no hostname`},
		{"too many listeners", "servers:\n" + server("80", "HTTP", manyHosts(65), ""),
			"", "spec.servers: Invalid value: 65: the servers make 65 listeners"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gc, err := gatewayconfig.Decode([]byte(header + "spec:\n" + indent(tt.spec)))
			if err != nil {
				t.Fatal(err)
			}
			gw, errs := GatewayAPI(gc, "")
			if tt.wantErr != "" {
				if len(errs) == 0 || !strings.Contains(errs.ToAggregate().Error(), tt.wantErr) {
					t.Fatalf("errors %v, want one containing %q", errs, tt.wantErr)
				}
				return
			}
			if len(errs) > 0 {
				t.Fatal(errs.ToAggregate())
			}
			if gw.Spec.GatewayClassName != gatewayconfig.GatewayClassIstio || gw.Labels[gatewayconfig.GatewayLabel] != "public" || gw.Annotations != nil {
				t.Errorf("class %q labels %v annotations %v", gw.Spec.GatewayClassName, gw.Labels, gw.Annotations)
			}
			var got []string
			for _, l := range gw.Spec.Listeners {
				got = append(got, describeListener(l))
			}
			if s := strings.Join(got, "; "); s != tt.want {
				t.Errorf("listeners\n got %s\nwant %s", s, tt.want)
			}
		})
	}
}

// describeListener is the one-line form TestGatewayAPI compares.
func describeListener(l gwapi.Listener) string {
	host, tls := "-", "-"
	if l.Hostname != nil {
		host = string(*l.Hostname)
	}
	from := string(*l.AllowedRoutes.Namespaces.From)
	if sel := l.AllowedRoutes.Namespaces.Selector; sel != nil {
		from += fmt.Sprint(sel.MatchExpressions[0].Values)
	}
	if l.TLS != nil {
		var refs []string
		for _, r := range l.TLS.CertificateRefs {
			refs = append(refs, string(r.Name))
		}
		var opts []string
		for _, v := range l.TLS.Options {
			opts = append(opts, string(v))
		}
		tls = fmt.Sprintf("%s[%s]{%s}", *l.TLS.Mode, strings.Join(refs, " "), strings.Join(opts, " "))
	}
	return fmt.Sprintf("%s %d %s %s %s %s", l.Name, l.Port, l.Protocol, host, from, tls)
}

func indent(s string) string {
	return "  " + strings.ReplaceAll(strings.TrimSuffix(s, "\n"), "\n", "\n  ") + "\n"
}

func manyHosts(n int) string {
	hosts := make([]string, n)
	for i := range hosts {
		hosts[i] = fmt.Sprintf("h%d.example.com", i)
	}
	return "[" + strings.Join(hosts, ", ") + "]"
}
