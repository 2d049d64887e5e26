package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshbundle/meshbundle/failure"
	"github.com/meshbundle/meshbundle/renderer/postrendercmd"
)

// badInputRow is one kind of bad input and what its message must name.
type badInputRow struct {
	name   string   // what is wrong
	args   []string // command line
	stdin  string   // standard input (rendered manifests for postrender)
	object string   // the object the message names (command, file, document)
	field  string   // the field or flag it names
}

// TestBadInputMessages feeds each kind of bad input through the CLI's
// entry points (run for meshbundle, postrendercmd.Main for the lean
// meshbundle-postrender) and checks the mission's promise: exit 2, nothing
// on stdout, and a message naming object, field and fix (checkBadInput).
func TestBadInputMessages(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	nokube := filepath.Join(dir, "no-kubeconfig")
	badAppMesh := write("appmesh.yaml", "apiVersion: meshbundle.dev/v1alpha1\nkind: AppMesh\nmetadata: {name: shop, namespace: shop}\nspec:\n  ports: {mode: sideways}\n")
	typoAppMesh := write("typo.yaml", "apiVersion: meshbundle.dev/v1alpha1\nkind: AppMesh\nmetadata: {name: shop, namespace: shop}\nspec:\n  injection: {enable: true}\n")
	routeAppMesh := write("route.yaml", "apiVersion: meshbundle.dev/v1alpha1\nkind: AppMesh\nmetadata: {name: shop, namespace: shop}\nspec:\n  routes: [{service: web, port: 81}]\n")
	badGateway := write("gateway.yaml", "apiVersion: meshbundle.dev/v1alpha1\nkind: GatewayConfig\nmetadata: {name: public, namespace: istio-ingress}\nspec:\n  servers:\n  - {port: 80, protocol: HTTP, hosts: [a.example.com]}\n  - {port: 80, protocol: HTTP, hosts: [b.example.com]}\n")
	const svc = "---\n# Source: shop/templates/svc.yaml\napiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  selector: {app: web}\n  ports:\n  - {name: web, port: 80}\n"
	const httpSvc = "---\n# Source: shop/templates/svc.yaml\napiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  selector: {app: web}\n  ports:\n  - {name: http, port: 80}\n"
	const badYAML = "---\n# Source: shop/templates/cm.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {a: 1, a: 2}\n"
	repo, _ := gitopsRepo(t)
	t.Setenv("ARGOCD_APP_NAME", "shop")
	t.Setenv("ARGOCD_APP_PARAMETERS", `[{"name":"values-files","string":"a.yaml"}]`)

	// Each kind of bad input once: cobra's flag and argument checks, the
	// commands' own flag checks, files (AppMesh, GatewayConfig,
	// IstioOperator), --set values, and the renderer's refusals.
	cli := []badInputRow{
		{name: "unknown flag", args: []string{"install", "--no-such-flag"}, object: "meshbundle install", field: "--no-such-flag"},
		{name: "bad flag value", args: []string{"install", "--timeout", "soon"}, object: "meshbundle install", field: "--timeout"},
		{name: "wrong argument count", args: []string{"tag", "set"}, object: "meshbundle tag set", field: "arg(s)"},
		{name: "flag out of range", args: []string{"install", "--timeout", "0s"}, object: "meshbundle install", field: "--timeout"},
		{name: "flags that contradict", args: []string{"uninstall", "--keep-crds", "--delete-crds"}, object: "meshbundle uninstall", field: "--keep-crds"},
		{name: "IstioOperator --set value", args: []string{"install", "--dry-run", "--kubeconfig", nokube, "--set", "meshConfig.defaultConfig.tracing.sampling=abc"}, object: "IstioOperator", field: "spec.meshConfig.defaultConfig.tracing.sampling"},
		{name: "IstioOperator unknown field", args: []string{"install", "--dry-run", "--kubeconfig", nokube, "--set", "meshConfg.accessLogFile=/dev/stdout"}, object: "IstioOperator", field: "meshConfg"},
		{name: "IstioOperator file missing", args: []string{"install", "--dry-run", "--kubeconfig", nokube, "-f", filepath.Join(dir, "nope.yaml")}, object: "IstioOperator file", field: "nope.yaml"},
		{name: "gateway chart --set value", args: []string{"install", "--dry-run", "--kubeconfig", nokube, "--set", "gateway.service.type=Bogus"}, object: "gateway", field: "service.type"},
		{name: "tag name", args: []string{"tag", "set", "Foo", "--kubeconfig", nokube}, object: "meshbundle tag set", field: `tag "Foo"`},
		{name: "required flag", args: []string{"gateway", "add", "gw", "--kubeconfig", nokube}, object: "meshbundle gateway add", field: "-n/--namespace"},
		{name: "gateway name", args: []string{"gateway", "add", "Bad_name", "-n", "x", "--kubeconfig", nokube}, object: "meshbundle gateway add", field: "gateway name"},
		{name: "GatewayConfig field", args: []string{"gateway", "config", "apply", "-f", badGateway, "--kubeconfig", nokube}, object: "GatewayConfig file " + badGateway, field: "spec.servers[1].port"},
		{name: "canary weight", args: []string{"canary", "weight", "shop", "200", "--repo", repo}, object: "meshbundle canary weight", field: "weight"},
		{name: "canary mode", args: []string{"canary", "abort", "shop"}, object: "meshbundle canary abort", field: "--repo"},
		{name: "canary start flags", args: []string{"canary", "start", "shop", "--repo", repo, "--deployment", "web", "--version", "v2", "--no-wait", "--kubeconfig", nokube}, object: "meshbundle canary start", field: "--image"},
		{name: "canary without a canary", args: []string{"canary", "promote", "shop", "--repo", repo, "--no-wait", "--kubeconfig", nokube}, object: "app shop", field: "promote"},
		{name: "dashboards format", args: []string{"dashboards", "render", "--format", "xml"}, object: "meshbundle dashboards render", field: "--format"},
		{name: "dashboards required URL", args: []string{"dashboards", "import"}, object: "meshbundle dashboards import", field: "--grafana-url"},
		{name: "kiali-proxy TLS pair", args: []string{"kiali-proxy", "--upstream", "http://127.0.0.1:1", "--tls-cert", "x"}, object: "meshbundle kiali-proxy", field: "--tls-key"},
		{name: "argocd plugin parameter", args: []string{"argocd", "generate", "--dir", dir}, object: "meshbundle argocd generate", field: `plugin parameter "values-files"`},
		{name: "cluster link clusters", args: []string{"cluster", "link"}, object: "meshbundle cluster link", field: "--from-kubeconfig"},
		// The post-renderer inside the CLI.
		{name: "postrender AppMesh value", args: []string{"postrender", "--config", badAppMesh}, stdin: httpSvc, object: "AppMesh file " + badAppMesh, field: "spec.ports.mode"},
		{name: "postrender AppMesh field name", args: []string{"postrender", "--config", typoAppMesh}, stdin: httpSvc, object: "AppMesh file " + typoAppMesh, field: "spec.injection.enable"},
	}
	// The lean post-renderer: what Helm and Argo CD exec.
	lean := []badInputRow{
		{name: "unknown flag", args: []string{"--conifg=x"}, stdin: httpSvc, object: "flags", field: "--conifg"},
		{name: "AppMesh file missing", args: []string{"--config", filepath.Join(dir, "nope.yaml")}, stdin: httpSvc, object: "AppMesh file " + filepath.Join(dir, "nope.yaml"), field: "--config"},
		{name: "AppMesh value", args: []string{"--config", badAppMesh}, stdin: httpSvc, object: "AppMesh file " + badAppMesh, field: "spec.ports.mode"},
		{name: "GatewayConfig value", args: []string{"--gateway-config", badGateway}, stdin: httpSvc, object: "GatewayConfig file " + badGateway, field: "spec.servers[1].port"},
		{name: "port name", stdin: svc, object: "Service web (# Source: shop/templates/svc.yaml)", field: "spec.ports[0].name"},
		{name: "malformed document", stdin: httpSvc + badYAML, object: "document 2 (# Source: shop/templates/cm.yaml)", field: `duplicate key "a"`},
		{name: "route to a missing port", args: []string{"--config", routeAppMesh}, stdin: httpSvc, object: "Service web (# Source: shop/templates/svc.yaml)", field: "spec.routes[0].port"},
	}
	for _, tt := range cli {
		t.Run("meshbundle/"+tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := int(run(tt.args, strings.NewReader(tt.stdin), &stdout, &stderr))
			if err := checkBadInput(tt, code, stdout.String(), stderr.String()); err != nil {
				t.Error(err)
			}
			t.Log(lastLine(stderr.String()))
		})
	}
	for _, tt := range lean {
		t.Run("meshbundle-postrender/"+tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := postrendercmd.Main(tt.args, strings.NewReader(tt.stdin), &stdout, &stderr)
			if err := checkBadInput(tt, code, stdout.String(), stderr.String()); err != nil {
				t.Error(err)
			}
			t.Log(lastLine(stderr.String()))
		})
	}
}

// checkBadInput is the promise for bad input: exit code 2, no output, and
// an error line naming the row's object and field and saying the fix.
func checkBadInput(row badInputRow, code int, stdout, stderr string) error {
	if code != int(failure.BadInput) {
		return fmt.Errorf("exit code %d, want %d (stderr %q)", code, failure.BadInput, stderr)
	}
	if stdout != "" {
		return fmt.Errorf("stdout has %d bytes on bad input: %.200q", len(stdout), stdout)
	}
	_, msg, ok := strings.Cut(stderr, "Error: ")
	if !ok {
		return fmt.Errorf("stderr has no error line: %q", stderr)
	}
	for what, want := range map[string]string{"object": row.object, "field": row.field} {
		if want == "" || !strings.Contains(msg, want) {
			return fmt.Errorf("error %q does not name the %s %q", msg, what, want)
		}
	}
	_, fix, ok := strings.Cut(msg, "(fix: ")
	if !ok || len(strings.Trim(strings.TrimSpace(fix), ")")) == 0 {
		return fmt.Errorf("error %q says no fix (want %q and what to do)", msg, "(fix: ")
	}
	if strings.Count(msg, "(fix: ") > 1 {
		return fmt.Errorf("error %q says two fixes: a wrapper added its own to one that had one", msg)
	}
	return nil
}

// TestCheckBadInputControl: the checker fails messages that lack the fix,
// the object or the field, say two fixes, a wrong exit code and output on
// stdout (a
// checker that passes everything would make the test above prove nothing).
func TestCheckBadInputControl(t *testing.T) {
	row := badInputRow{object: "meshbundle install", field: "--timeout"}
	const good = "Error: meshbundle install: --timeout 0s: must be positive (fix: give a duration such as 5m)\n"
	tests := []struct {
		name   string // case
		code   int    // exit code
		stdout string // standard output
		stderr string // standard error
		ok     bool   // checkBadInput passes
	}{
		{"all three", 2, "", good, true},
		{"no fix", 2, "", "Error: meshbundle install: --timeout 0s: must be positive\n", false},
		{"empty fix", 2, "", "Error: meshbundle install: --timeout 0s: must be positive (fix: )\n", false},
		{"no object", 2, "", "Error: --timeout 0s: must be positive (fix: give a duration such as 5m)\n", false},
		{"no field", 2, "", "Error: meshbundle install: must be positive (fix: give a duration such as 5m)\n", false},
		{"two fixes", 2, "", "Error: meshbundle install: --timeout 0s: must be positive (fix: give a duration such as 5m) (fix: see --help)\n", false},
		{"exit 1", 1, "", good, false},
		{"partial output", 2, "apiVersion: v1\n", good, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkBadInput(row, tt.code, tt.stdout, tt.stderr)
			if (err == nil) != tt.ok {
				t.Errorf("checkBadInput = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

// lastLine is the error line of stderr (progress lines come first).
func lastLine(s string) string {
	s = strings.TrimRight(s, "\n")
	return s[strings.LastIndexByte(s, '\n')+1:]
}
