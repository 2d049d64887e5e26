package postrendercmd

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestGatewayConfigFlag: --gateway-config files are decoded strictly and
// routes are checked against them; any failure exits 2 with nothing on stdout.
func TestGatewayConfigFlag(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	am := write("appmesh.yaml", "apiVersion: meshbundle.dev/v1alpha1\nkind: AppMesh\nmetadata: {name: shop, namespace: shop}\nspec:\n  routes:\n  - {service: web, gateway: istio-ingress/public, hosts: [shop.example.com]}\n")
	const gcHead = "apiVersion: meshbundle.dev/v1alpha1\nkind: GatewayConfig\nmetadata: {name: public, namespace: istio-ingress}\nspec:\n  servers:\n"
	serves := write("serves.yaml", gcHead+"  - {port: 80, protocol: HTTP, hosts: [shop.example.com]}\n")
	other := write("other.yaml", gcHead+"  - {port: 80, protocol: HTTP, hosts: [blog.example.com]}\n")
	bad := write("bad.yaml", gcHead+"  - {port: 443, protocol: HTTPS, hosts: [shop.example.com], tls: {mode: SIMPLE}}\n")
	const svc = "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  selector: {app: web}\n  ports:\n  - {name: http, port: 80}\n"
	tests := []struct {
		name     string   // case
		args     []string // command line
		wantCode int      // exit code
		stderr   string   // substring of stderr
	}{
		{"route bound to a served host", []string{"--config", am, "--gateway-config", serves}, 0, ""},
		{"host not served", []string{"--config", am, "--gateway-config", other}, 2, `gateway istio-ingress/public serves no host "shop.example.com"`},
		{"invalid GatewayConfig", []string{"--config", am, "--gateway-config", bad}, 2, "spec.servers[0].tls.credentialName: Required value"},
		{"missing GatewayConfig", []string{"--config", am, "--gateway-config", filepath.Join(dir, "nope.yaml")}, 2, "GatewayConfig file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := Main(tt.args, strings.NewReader(svc), &stdout, &stderr)
			if code != tt.wantCode {
				t.Fatalf("exit code %d, want %d (stderr %q)", code, tt.wantCode, stderr.String())
			}
			if tt.wantCode != 0 && stdout.Len() != 0 {
				t.Errorf("stdout has %d bytes on error", stdout.Len())
			}
			if tt.wantCode == 0 && !strings.Contains(stdout.String(), "istio-ingress/public") {
				t.Errorf("VirtualService not bound to the gateway:\n%s", stdout.String())
			}
			if !strings.Contains(stderr.String(), tt.stderr) {
				t.Errorf("stderr %q does not contain %q", stderr.String(), tt.stderr)
			}
		})
	}
}
