package meshcheck

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"istio.io/istio/pkg/log"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	kyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/meshbundle/meshbundle/appmesh"
	"github.com/meshbundle/meshbundle/renderer"
)

// chartsDir holds the realistic rendered charts of the renderer's golden tests.
const chartsDir = "../testdata/charts"

func TestMain(m *testing.M) {
	// Istio logs every config event; keep test output readable.
	for _, s := range log.Scopes() {
		s.SetOutputLevel(log.NoneLevel)
	}
	os.Exit(m.Run())
}

// chart is one rendered chart of testdata and its AppMesh.
type chart struct {
	name string
	am   *appmesh.AppMesh
	in   []byte
}

func loadChart(t testing.TB, name string) chart {
	t.Helper()
	in, err := os.ReadFile(filepath.Join(chartsDir, name+".in.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	am, err := appmesh.Load(filepath.Join(chartsDir, name+".appmesh.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return chart{name: name, am: am, in: in}
}

// render runs the post-renderer on the chart.
func (c chart) render(t testing.TB) []byte {
	t.Helper()
	var out bytes.Buffer
	if err := renderer.New(c.am, nil).Render(bytes.NewReader(c.in), &out); err != nil {
		t.Fatalf("render %s: %v", c.name, err)
	}
	return out.Bytes()
}

// cluster is the output as the API server would hold it after
// `helm install -n <ns>`: namespaced objects without a namespace get the
// release namespace, and Services get a ClusterIP (what the apiserver
// allocates). Hook objects are dropped: Helm applies them separately, and
// test pods never run during a normal install.
type cluster struct {
	kube, istio []string          // documents for the kube registry / Istio config store
	clusterIPs  map[string]string // Service name -> ClusterIP
}

var clusterScoped = map[string]bool{"Namespace": true, "ClusterRole": true, "ClusterRoleBinding": true, "CustomResourceDefinition": true}

func applied(t testing.TB, ns string, stream []byte) cluster {
	t.Helper()
	c := cluster{clusterIPs: map[string]string{}}
	rd := kyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(stream)))
	for {
		doc, err := rd.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		var u unstructured.Unstructured
		if err := yaml.Unmarshal(doc, &u.Object); err != nil {
			t.Fatal(err)
		}
		if u.Object == nil {
			continue
		}
		if _, hook := u.GetAnnotations()["helm.sh/hook"]; hook {
			continue
		}
		if u.GroupVersionKind().Group == "monitoring.coreos.com" {
			// Prometheus Operator objects mean nothing to istiod and its
			// fake kube client has no scheme for them.
			continue
		}
		if u.GetNamespace() == "" && !clusterScoped[u.GetKind()] {
			u.SetNamespace(ns)
		}
		if u.GetKind() == "Service" && u.GetAPIVersion() == "v1" {
			typ, _, _ := unstructured.NestedString(u.Object, "spec", "type")
			ip, _, _ := unstructured.NestedString(u.Object, "spec", "clusterIP")
			if typ != "ExternalName" && ip == "" {
				ip = fmt.Sprintf("10.96.%d.%d", len(c.clusterIPs)/250, len(c.clusterIPs)%250+1)
				if err := unstructured.SetNestedField(u.Object, ip, "spec", "clusterIP"); err != nil {
					t.Fatal(err)
				}
			}
			c.clusterIPs[u.GetName()] = ip
		}
		out, err := yaml.Marshal(u.Object)
		if err != nil {
			t.Fatal(err)
		}
		if pod := podOf(t, &u); pod != "" {
			c.kube = append(c.kube, pod)
		}
		if strings.HasSuffix(u.GroupVersionKind().Group, "istio.io") {
			c.istio = append(c.istio, string(out))
		} else {
			c.kube = append(c.kube, string(out))
		}
	}
	return c
}

// podOf is the pod a workload controller would create from the template
// (analyzers such as IST0173 look at pods, not at Deployments).
func podOf(t testing.TB, u *unstructured.Unstructured) string {
	switch u.GetKind() {
	case "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet":
	default:
		return ""
	}
	tmpl, ok, _ := unstructured.NestedMap(u.Object, "spec", "template")
	if !ok {
		return ""
	}
	pod := map[string]any{"apiVersion": "v1", "kind": "Pod", "spec": tmpl["spec"]}
	meta, _ := tmpl["metadata"].(map[string]any)
	if meta == nil {
		meta = map[string]any{}
	}
	meta["name"] = u.GetName() + "-0"
	meta["namespace"] = u.GetNamespace()
	pod["metadata"] = meta
	out, err := yaml.Marshal(pod)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func join(docs ...[]string) string {
	var all []string
	for _, d := range docs {
		all = append(all, d...)
	}
	return strings.Join(all, "---\n")
}

// ingressGateway is what the installer puts in place for routes that name
// "istio-ingress/public": the Gateway and a gateway pod it selects.
var ingressGateway = struct{ kube, istio []string }{
	kube: []string{`apiVersion: v1
kind: Namespace
metadata:
  name: istio-ingress
`, `apiVersion: v1
kind: Pod
metadata:
  name: istio-ingress-0
  namespace: istio-ingress
  labels:
    istio: ingressgateway
  annotations:
    inject.istio.io/templates: gateway
spec:
  containers:
  - name: istio-proxy
    image: auto
`},
	istio: []string{`apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: public
  namespace: istio-ingress
spec:
  selector:
    istio: ingressgateway
  servers:
  - port:
      number: 80
      name: http
      protocol: HTTP
    hosts:
    - "*/*"
`},
}
