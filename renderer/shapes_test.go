package renderer

import (
	"bytes"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/meshbundle/meshbundle/appmesh"
)

// Shapes a chart can render and Helm accepts (issue 20): each is meshed
// like its plain form or refused with an error naming the document (its
// "# Source:" template), the field and the fix.

// shapeMesh is the AppMesh of the shape tests: fix mode, release namespace
// shop, and its own switches.
func shapeMesh(t *testing.T, spec string) *appmesh.AppMesh {
	t.Helper()
	am, err := appmesh.Decode([]byte("apiVersion: meshbundle.dev/v1alpha1\nkind: AppMesh\nmetadata: {name: shop, namespace: shop}\nspec:\n  ports: {mode: fix}\n" + spec))
	if err != nil {
		t.Fatal(err)
	}
	return am
}

// outputObjects renders in and decodes the output into generic objects
// keyed "Kind/name".
func outputObjects(t *testing.T, am *appmesh.AppMesh, in string) (map[string]map[string]any, string) {
	t.Helper()
	var out bytes.Buffer
	if err := New(am, nil).Render(strings.NewReader(in), &out); err != nil {
		t.Fatalf("Render: %v", err)
	}
	objs := map[string]map[string]any{}
	for _, d := range strings.Split(out.String(), "---\n") {
		var m map[string]any
		if err := yaml.Unmarshal([]byte(d), &m); err != nil {
			t.Fatalf("output does not parse: %v\n%s", err, out.String())
		}
		if m == nil {
			continue
		}
		meta, _ := m["metadata"].(map[string]any)
		objs[m["kind"].(string)+"/"+meta["name"].(string)] = m
	}
	return objs, out.String()
}

// field reads a path of map keys from an object ("" when missing).
func field(obj map[string]any, keys ...string) any {
	var cur any = obj
	for _, k := range keys {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[k]
	}
	return cur
}

const (
	// listWeb is a v1 List holding a Deployment and its Service (whose port
	// name fix mode renames), as `kubectl create --dry-run -o yaml` or a
	// chart's toYaml of a list renders them.
	listWeb = `# Source: shop/templates/list.yaml
apiVersion: v1
kind: List
items:
- apiVersion: apps/v1
  kind: Deployment
  metadata:
    name: web
  spec:
    selector:
      matchLabels: {app: web}
    template:
      metadata:
        labels: {app: web}
      spec:
        containers: [{name: web, image: web:1}]
- apiVersion: v1
  kind: List
  items:
  - apiVersion: v1
    kind: Service
    metadata:
      name: web
    spec:
      selector: {app: web}
      ports: [{name: web, port: 80}]
`
	// anchoredDeployment shares one label mapping between the selector and
	// the pod template (an anchor and an alias), and merges common labels
	// into the Deployment's own with a merge key.
	anchoredDeployment = `# Source: shop/templates/web.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels:
    <<: &common {team: shop}
    app: web
spec:
  selector:
    matchLabels: &pod
      app: web
  template:
    metadata:
      labels: *pod
      annotations: *common
    spec:
      containers: [{name: web, image: web:1}]
---
# Source: shop/templates/svc.yaml
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: *sel
  ports: [{name: http, port: 80}]
`
	// hookJob is a pre-install hook Job and a helm test Pod in the release
	// namespace, which the chart renders (and the renderer labels).
	hookJob = `# Source: shop/templates/ns.yaml
apiVersion: v1
kind: Namespace
metadata:
  name: shop
---
# Source: shop/templates/migrate.yaml
apiVersion: batch/v1
kind: Job
metadata:
  name: migrate
  annotations:
    helm.sh/hook: pre-install
spec:
  template:
    metadata:
      labels: {app: migrate}
    spec:
      restartPolicy: Never
      containers: [{name: migrate, image: migrate:1}]
---
# Source: shop/templates/tests/ping.yaml
apiVersion: v1
kind: Pod
metadata:
  name: ping
  annotations:
    helm.sh/hook: test
spec:
  restartPolicy: Never
  containers: [{name: ping, image: busybox}]
`
)

// TestListsAreFlattened: Helm applies the items of a List (nested ones
// too) as objects of their own, so the renderer meshes each item and writes
// it as its own document.
func TestListsAreFlattened(t *testing.T) {
	objs, out := outputObjects(t, shapeMesh(t, ""), listWeb)
	if strings.Contains(out, "kind: List") {
		t.Errorf("a List is left in the output:\n%s", out)
	}
	dep, svc := objs["Deployment/web"], objs["Service/web"]
	if dep == nil || svc == nil {
		t.Fatalf("the List's items are not in the output:\n%s", out)
	}
	if got := field(dep, "spec", "template", "metadata", "annotations", "sidecar.istio.io/inject"); got != "true" {
		t.Errorf("the Deployment of the List is not injected (annotation %v):\n%s", got, out)
	}
	if got := field(svc, "spec", "ports").([]any)[0].(map[string]any)["name"]; got != "http-web" {
		t.Errorf("the nested List's Service port is %v, want http-web:\n%s", got, out)
	}
	if !strings.Contains(out, "# Source: shop/templates/list.yaml\n") {
		t.Errorf("the items lost their # Source: comment:\n%s", out)
	}
}

// TestAnchorsStayLocal: an alias of a mapping the renderer edits gets
// its own copy, so an edit of the pod template's labels never reaches the
// (immutable) selector they were shared with; merge keys are resolved
// like Kubernetes' decoder does; an alias of a missing anchor is refused
// with the document and the fix.
func TestAnchorsStayLocal(t *testing.T) {
	in := strings.Replace(anchoredDeployment, "selector: *sel", "selector: {app: web}", 1)
	objs, out := outputObjects(t, shapeMesh(t, "  routes: [{service: web}]\n"), in)
	dep := objs["Deployment/web"]
	if sel := field(dep, "spec", "selector", "matchLabels").(map[string]any); len(sel) != 1 || sel["app"] != "web" {
		t.Errorf("the selector changed to %v:\n%s", sel, out)
	}
	if got := field(dep, "spec", "template", "metadata", "labels", "sidecar.istio.io/inject"); got != "true" {
		t.Errorf("the pod template's labels are not injected (%v):\n%s", got, out)
	}
	if got := field(dep, "metadata", "labels", "team"); got != "shop" {
		t.Errorf("the merged label team is %v, want shop:\n%s", got, out)
	}
	if ann := field(dep, "spec", "template", "metadata", "annotations").(map[string]any); ann["team"] != "shop" || ann["sidecar.istio.io/inject"] != "true" {
		t.Errorf("the aliased annotations are %v:\n%s", ann, out)
	}
	if got := field(dep, "metadata", "labels").(map[string]any); got["sidecar.istio.io/inject"] != nil {
		t.Errorf("the edit of the annotations leaked into the anchored labels: %v", got)
	}

	var sink bytes.Buffer
	err := New(shapeMesh(t, ""), nil).Render(strings.NewReader(anchoredDeployment), &sink)
	if err == nil || !strings.Contains(err.Error(), "document 2 (# Source: shop/templates/svc.yaml)") || !strings.Contains(err.Error(), "fix:") {
		t.Errorf("an alias of an unknown anchor: error %v, want one naming the document and the fix", err)
	}
	if sink.Len() > 0 {
		t.Errorf("output written on error")
	}
}

// TestHooksInALabelledNamespace: a hook Job or test Pod in a Namespace the
// renderer labels for injection would get a sidecar from the namespace
// label and never finish, so it gets sidecar.istio.io/inject: "false",
// unless the AppMesh asks for Jobs (injection.jobs) or leaves the
// namespace unlabelled.
func TestHooksInALabelledNamespace(t *testing.T) {
	tests := []struct {
		name string // the switches
		spec string // AppMesh spec lines
		want any    // the hooks' inject annotation (nil: untouched)
	}{
		{"labelled namespace", "", "false"},
		{"jobs asked for", "  injection: {jobs: true}\n", nil},
		{"namespace not labelled", "  injection: {namespaceLabel: false}\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, out := outputObjects(t, shapeMesh(t, tt.spec), hookJob)
			job, pod := objs["Job/migrate"], objs["Pod/ping"]
			if got := field(job, "spec", "template", "metadata", "annotations", "sidecar.istio.io/inject"); got != tt.want {
				t.Errorf("hook Job inject annotation %v, want %v:\n%s", got, tt.want, out)
			}
			if got := field(pod, "metadata", "annotations", "sidecar.istio.io/inject"); got != tt.want {
				t.Errorf("test Pod inject annotation %v, want %v:\n%s", got, tt.want, out)
			}
			if got := field(job, "metadata", "annotations", "helm.sh/hook"); got != "pre-install" {
				t.Errorf("the hook annotation changed: %v", got)
			}
		})
	}
}

// TestCommentOnlyChunks: a template that renders only comments (Helm still
// prints its "# Source:" line and a separator) gives an empty chunk, which
// Helm applies nothing of: it is dropped, first in the stream or not, and
// the next document is meshed as usual.
func TestCommentOnlyChunks(t *testing.T) {
	const svc = "# Source: shop/templates/svc.yaml\napiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  ports: [{name: web, port: 80}]\n"
	for _, in := range []string{
		"# Source: shop/templates/empty.yaml\n# nothing enabled\n---\n" + svc,
		"---\n# Source: shop/templates/empty.yaml\n---\n" + svc + "---\n# Source: shop/templates/last.yaml\n",
		"# Source: shop/templates/empty.yaml\n\n\n---\n\n---\n" + svc,
	} {
		objs, out := outputObjects(t, shapeMesh(t, ""), in)
		if got := field(objs["Service/web"], "spec", "ports").([]any)[0].(map[string]any)["name"]; got != "http-web" {
			t.Errorf("the Service after a comment-only chunk was not meshed (port %v):\n%s", got, out)
		}
		if strings.Contains(out, "empty.yaml") || strings.Count(out, "---\n") != 2 { // the Service and the state ConfigMap
			t.Errorf("comment-only chunks left documents in the output:\n%s", out)
		}
	}
}

// TestErrorsNameTheSource: a document the renderer refuses is named with
// its position and its "# Source:" template.
func TestErrorsNameTheSource(t *testing.T) {
	in := "# Source: shop/templates/ok.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: ok}\n---\n# Source: shop/templates/bad.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata: {}\n"
	err := New(nil, nil).Render(strings.NewReader(in), &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "document 2 (# Source: shop/templates/bad.yaml)") || !strings.Contains(err.Error(), "missing metadata.name") {
		t.Errorf("error %v, want document 2, its source and the missing field", err)
	}
	in = strings.Replace(listWeb, "    name: web\n  spec:\n    selector:", "    labels: {}\n  spec:\n    selector:", 1)
	err = New(nil, nil).Render(strings.NewReader(in), &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "(# Source: shop/templates/list.yaml) items[0]") || !strings.Contains(err.Error(), "missing metadata.name") {
		t.Errorf("error %v, want the List item's index and source", err)
	}
}
