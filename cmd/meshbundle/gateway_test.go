package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshbundle/meshbundle/failure"
)

// TestGatewayExitCodes: bad flags and bad GatewayConfigs exit 2 before any
// cluster is contacted, an unreachable cluster exits 3; nothing on stdout.
func TestGatewayExitCodes(t *testing.T) {
	kc := deadKubeconfig(t)
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	const head = "apiVersion: meshbundle.dev/v1alpha1\nkind: GatewayConfig\nmetadata: {name: public, namespace: istio-ingress}\nspec:\n  servers:\n"
	good := write("good.yaml", head+"  - {port: 80, protocol: HTTP, hosts: [shop.example.com]}\n")
	dupPort := write("dup.yaml", head+"  - {port: 80, protocol: HTTP, hosts: [a.example.com]}\n  - {port: 80, protocol: HTTP, hosts: [b.example.com]}\n")
	noCred := write("nocred.yaml", head+"  - {port: 443, protocol: HTTPS, hosts: [a.example.com], tls: {mode: SIMPLE}}\n")
	selector := write("selector.yaml", "apiVersion: meshbundle.dev/v1alpha1\nkind: GatewayConfig\nmetadata: {name: gw, namespace: ns}\nspec:\n  selector: {istio: ingressgateway}\n  servers:\n  - {port: 80, protocol: HTTP, hosts: [\"*\"]}\n")
	grpc := write("grpc.yaml", "apiVersion: meshbundle.dev/v1alpha1\nkind: GatewayConfig\nmetadata: {name: gw, namespace: ns}\nspec:\n  servers:\n  - {port: 8080, protocol: GRPC, hosts: [\"*\"]}\n")
	badHost := write("badhost.yaml", head+"  - {port: 80, protocol: HTTP, hosts: [\"shop example\"]}\n")
	cases := []struct {
		name       string       // test name
		args       []string     // command line
		wantCode   failure.Kind // exit code
		wantStderr string       // substring of stderr
	}{
		{"unknown class", []string{"gateway", "add", "gw", "-n", "ns", "--class", "mesh", "--kubeconfig", kc}, 2, `--class "mesh": must be one of ingress, egress, east-west`},
		{"east-west without network", []string{"gateway", "add", "ew", "-n", "istio-system", "--class", "east-west", "--kubeconfig", kc}, 2, "--class east-west needs --network"},
		{"network on ingress", []string{"gateway", "add", "gw", "-n", "ns", "--network", "n1", "--kubeconfig", kc}, 2, "--network is only for --class east-west"},
		{"bad service type", []string{"gateway", "add", "gw", "-n", "ns", "--service-type", "External", "--kubeconfig", kc}, 2, `--service-type "External"`},
		{"unknown chart value", []string{"gateway", "add", "gw", "-n", "ns", "--set", "replicas=2", "--kubeconfig", kc}, 2, "values.schema.json"},
		{"replicas with HPA bounds", []string{"gateway", "add", "gw", "-n", "ns", "--replicas", "2", "--max-replicas", "4", "--kubeconfig", kc}, 2, "do not combine"},
		{"unknown api", []string{"gateway", "add", "gw", "-n", "ns", "--api", "kube", "--kubeconfig", kc}, 2, `--api "kube": must be istio`},
		{"gateway-api with replicas", []string{"gateway", "add", "gw", "-n", "ns", "--api", "gateway-api", "--replicas", "2", "--kubeconfig", kc}, 2, "no effect with --api gateway-api"},
		{"gateway-api with --set", []string{"gateway", "add", "gw", "-n", "ns", "--api", "gateway-api", "--set", "service.type=NodePort", "--kubeconfig", kc}, 2, "drop --set"},
		{"gateway-api east-west", []string{"gateway", "add", "ew", "-n", "ns", "--api", "gateway-api", "--class", "east-west", "--network", "n1", "--kubeconfig", kc}, 2, "--class east-west with --api gateway-api"},
		{"gateway-api service type None", []string{"gateway", "add", "gw", "-n", "ns", "--api", "gateway-api", "--service-type", "None", "--kubeconfig", kc}, 2, `--service-type "None" with --api gateway-api`},
		{"gateway-api selector", []string{"gateway", "add", "gw", "-n", "ns", "--api", "gateway-api", "-f", selector, "--kubeconfig", kc}, 2, "GatewayConfig ns/gw has no Gateway API equivalent: spec.selector: Forbidden"},
		{"gateway-api GRPC server", []string{"gateway", "add", "gw", "-n", "ns", "--api", "gateway-api", "-f", grpc, "--kubeconfig", kc}, 2, `spec.servers[0].protocol: Invalid value: "GRPC": no Gateway API listener protocol; use protocol HTTP`},
		{"gateway-api unreachable cluster", []string{"gateway", "add", "gw", "-n", "ns", "--api", "gateway-api", "--kubeconfig", kc}, 3, "unreachable"},
		{"no namespace", []string{"gateway", "add", "gw", "--kubeconfig", kc}, 2, "-n/--namespace: required"},
		{"missing name", []string{"gateway", "add", "-n", "ns"}, 2, "accepts 1 arg"},
		{"config without -f", []string{"gateway", "config", "apply", "--kubeconfig", kc}, 2, "-f/--filename: required"},
		{"duplicate port", []string{"gateway", "config", "apply", "-f", dupPort, "--kubeconfig", kc}, 2, "spec.servers[1].port: Duplicate value"},
		{"TLS without credential", []string{"gateway", "config", "apply", "-f", noCred, "--kubeconfig", kc}, 2, "spec.servers[0].tls.credentialName: Required value"},
		{"host not a DNS name", []string{"gateway", "config", "apply", "-f", badHost, "--kubeconfig", kc}, 2, "spec.servers[0].hosts[0]: Invalid value: \"shop example\": not a DNS name"},
		{"-n disagrees with the file", []string{"gateway", "config", "apply", "-f", good, "-n", "other", "--kubeconfig", kc}, 2, "-n other disagrees"},
		{"unreachable cluster", []string{"gateway", "config", "apply", "-f", good, "--kubeconfig", kc}, 3, "unreachable"},
		{"list without -n or -A", []string{"gateway", "list", "--kubeconfig", kc}, 2, "-A"},
		{"bad output", []string{"gateway", "list", "-A", "-o", "table", "--kubeconfig", kc}, 2, "--output"},
		{"link without clusters", []string{"cluster", "link", "--from-name", "a", "--to-name", "b"}, 2, "both clusters must be named"},
		{"link with equal names", []string{"cluster", "link", "--from-kubeconfig", kc, "--from-name", "a", "--to-kubeconfig", kc, "--to-name", "a"}, 2, `both clusters are named "a"`},
		{"link with a bad name", []string{"cluster", "link", "--from-kubeconfig", kc, "--from-name", "A_1", "--to-kubeconfig", kc, "--to-name", "b"}, 2, `cluster name "A_1"`},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(tt.args, strings.NewReader(""), &stdout, &stderr)
			if code != tt.wantCode {
				t.Errorf("exit code %d, want %d; stderr: %s", code, tt.wantCode, stderr.String())
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout not empty on error: %q", stdout.String())
			}
			if !strings.Contains(stderr.String(), tt.wantStderr) {
				t.Errorf("stderr %q does not contain %q", stderr.String(), tt.wantStderr)
			}
		})
	}
}
