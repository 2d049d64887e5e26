// Package e2e proves that the ignoreDifferences of the Argo CD Applications
// in examples/argocd name exactly the fields istiod changes at runtime.
//
// The local control plane (ci/testcluster WithIstiod) has Istio's base and
// istiod charts installed with the Helm SDK and a real istiod running. For
// every webhook configuration in those releases the test diffs the object as
// Helm rendered it (the release manifest: what Argo CD would sync) against
// the object in the cluster after istiod patched it, adds the fields
// istiod's field manager owns (managedFields: fields it added that the chart
// does not render), and evaluates each
// Application's jqPathExpressions with gojq (the jq engine Argo CD uses) on
// the live object. The set of changed JSON paths must equal the set the
// expressions select: nothing istiod changes is left out (the Application
// would stay OutOfSync), nothing else is ignored (a real drift would hide).
//
// The releases are installed by the harness with the charts' default values,
// not the values in the example Applications; the webhooks istiod patches are
// the same objects either way.
package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/itchyny/gojq"
	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/releaseutil"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"

	"github.com/meshbundle/meshbundle/ci/testcluster"
)

func TestMain(m *testing.M) { testcluster.Main(m, testcluster.WithIstiod()) }

// application is the part of an Argo CD Application this test reads.
type application struct {
	Metadata struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		Source struct {
			Chart string `json:"chart"`
			Helm  struct {
				ReleaseName string `json:"releaseName"`
			} `json:"helm"`
		} `json:"source"`
		IgnoreDifferences []struct {
			Group             string   `json:"group"`
			Kind              string   `json:"kind"`
			Name              string   `json:"name"`
			JQPathExpressions []string `json:"jqPathExpressions"`
			JSONPointers      []string `json:"jsonPointers"`
		} `json:"ignoreDifferences"`
		SyncPolicy struct {
			SyncOptions []string `json:"syncOptions"`
		} `json:"syncPolicy"`
	} `json:"spec"`
}

func loadApplication(t *testing.T, file string) application {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", file))
	if err != nil {
		t.Fatal(err)
	}
	var app application
	if err := yaml.Unmarshal(data, &app); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return app
}

func TestIgnoreDifferencesMatchIstiodPatches(t *testing.T) {
	c := testcluster.Shared(t)
	cfg, err := c.HelmConfig(testcluster.IstioNamespace)
	if err != nil {
		t.Fatal(err)
	}
	webhooks := 0
	for _, tc := range []struct {
		file    string // the example Application
		release string // the release the harness installed from the same chart
	}{
		{file: "istio-base.yaml", release: "istio-base"},
		{file: "istiod.yaml", release: "istiod"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			app := loadApplication(t, tc.file)
			if app.Spec.Source.Helm.ReleaseName != tc.release {
				t.Fatalf("%s releaseName = %q, want %q", tc.file, app.Spec.Source.Helm.ReleaseName, tc.release)
			}
			if len(app.Spec.IgnoreDifferences) > 0 && !slices.Contains(app.Spec.SyncPolicy.SyncOptions, "RespectIgnoreDifferences=true") {
				t.Errorf("%s has ignoreDifferences without RespectIgnoreDifferences=true: a sync would reset istiod's patches", tc.file)
			}
			rel, err := action.NewGet(cfg).Run(tc.release)
			if err != nil {
				t.Fatalf("release %s: %v", tc.release, err)
			}
			for _, doc := range releaseutil.SplitManifests(rel.Manifest) {
				var rendered map[string]any
				if err := yaml.Unmarshal([]byte(doc), &rendered); err != nil {
					t.Fatal(err)
				}
				obj := unstructured.Unstructured{Object: rendered}
				if obj.GroupVersionKind().Group != "admissionregistration.k8s.io" {
					continue
				}
				webhooks++
				t.Run(obj.GetKind()+"/"+obj.GetName(), func(t *testing.T) {
					checkObject(t, c, app, obj)
				})
			}
		})
	}
	if webhooks == 0 {
		t.Fatal("the Istio releases render no webhook configuration: nothing was compared")
	}
}

// checkObject waits until the live object's changed paths equal the ignored
// paths (istiod patches a moment after it starts), then reports the
// difference if they never do.
func checkObject(t *testing.T, c *testcluster.Cluster, app application, rendered unstructured.Unstructured) {
	var changed, ignored []string
	deadline := time.Now().Add(60 * time.Second)
	for {
		live := &unstructured.Unstructured{}
		live.SetGroupVersionKind(rendered.GroupVersionKind())
		if err := c.Client.Get(context.Background(), types.NamespacedName{Name: rendered.GetName()}, live); err != nil {
			t.Fatal(err)
		}
		changed = changedPaths(rendered.Object, live.Object)
		changed = append(changed, ownedPaths(t, live, istiodFieldManager)...)
		sort.Strings(changed)
		changed = slices.Compact(changed)
		ignored = ignoredPaths(t, app, live)
		if slices.Equal(changed, ignored) && len(changed) > 0 {
			t.Logf("istiod changed %d fields, all and only those ignored: %s", len(changed), strings.Join(changed, " "))
			return
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	for _, p := range changed {
		if !slices.Contains(ignored, p) {
			t.Errorf("istiod changed %s but the Application does not ignore it (stays OutOfSync)", p)
		}
	}
	for _, p := range ignored {
		if !slices.Contains(changed, p) {
			t.Errorf("the Application ignores %s but istiod did not change it (a real drift there would hide)", p)
		}
	}
	if len(changed) == 0 {
		t.Errorf("istiod changed nothing in %s within 60 s: is it running?", rendered.GetName())
	}
}

// istiodFieldManager is the field manager of istiod's webhook patches
// (the binary's name, as client-go sets it).
const istiodFieldManager = "pilot-discovery"

// ownedPaths lists, as jq paths into the live object, the leaf fields the
// field manager owns per the object's managedFields: the fields istiod
// wrote, including ones the chart does not render (the injector's caBundle).
// List items are keyed by name (k:{"name":...}); they become indices.
func ownedPaths(t *testing.T, live *unstructured.Unstructured, manager string) []string {
	t.Helper()
	var out []string
	var walk func(path []any, fields map[string]any, obj any)
	walk = func(path []any, fields map[string]any, obj any) {
		leaf := true
		for key, sub := range fields {
			if key == "." {
				continue
			}
			leaf = false
			subFields, _ := sub.(map[string]any)
			switch {
			case strings.HasPrefix(key, "f:"):
				name := strings.TrimPrefix(key, "f:")
				m, _ := obj.(map[string]any)
				walk(append(slices.Clone(path), name), subFields, m[name])
			case strings.HasPrefix(key, "k:"):
				var k map[string]any
				if err := json.Unmarshal([]byte(strings.TrimPrefix(key, "k:")), &k); err != nil {
					t.Fatalf("managedFields key %s: %v", key, err)
				}
				items, _ := obj.([]any)
				idx := slices.IndexFunc(items, func(it any) bool {
					m, _ := it.(map[string]any)
					for kk, kv := range k {
						if !jsonEqual(m[kk], kv) {
							return false
						}
					}
					return true
				})
				if idx < 0 {
					t.Fatalf("managedFields key %s matches no list item", key)
				}
				walk(append(slices.Clone(path), idx), subFields, items[idx])
			default:
				t.Fatalf("managedFields key %s: only f: and k: keys are expected in webhook configurations", key)
			}
		}
		if leaf && len(path) > 0 {
			out = append(out, pathString(path))
		}
	}
	for _, mf := range live.GetManagedFields() {
		if mf.Manager != manager || mf.FieldsV1 == nil {
			continue
		}
		var fields map[string]any
		if err := json.Unmarshal(mf.FieldsV1.GetRawBytes(), &fields); err != nil {
			t.Fatal(err)
		}
		walk(nil, fields, live.Object)
	}
	return out
}

// changedPaths lists, as jq paths, every leaf of the rendered object whose
// value differs in (or is missing from) the live object. Fields only the
// live object has (server defaults, status, metadata) are not differences
// Argo CD reports for a Helm-rendered object.
func changedPaths(rendered, live any) []string {
	var out []string
	var walk func(path []any, r, l any)
	walk = func(path []any, r, l any) {
		switch rv := r.(type) {
		case map[string]any:
			lm, _ := l.(map[string]any)
			for k, v := range rv {
				walk(append(slices.Clone(path), k), v, lm[k])
			}
		case []any:
			la, _ := l.([]any)
			for i, v := range rv {
				var lv any
				if i < len(la) {
					lv = la[i]
				}
				walk(append(slices.Clone(path), i), v, lv)
			}
		default:
			if !jsonEqual(r, l) {
				out = append(out, pathString(path))
			}
		}
	}
	walk(nil, rendered, live)
	sort.Strings(out)
	return out
}

// ignoredPaths evaluates path(<expr>) for every ignoreDifferences entry that
// selects the object, on the live object, as Argo CD's normalizer does.
func ignoredPaths(t *testing.T, app application, live *unstructured.Unstructured) []string {
	t.Helper()
	gvk := live.GroupVersionKind()
	var out []string
	for _, ig := range app.Spec.IgnoreDifferences {
		if ig.Group != gvk.Group || ig.Kind != gvk.Kind || (ig.Name != "" && ig.Name != live.GetName()) {
			continue
		}
		if len(ig.JSONPointers) > 0 {
			t.Errorf("%s: jsonPointers name webhooks by index; use jqPathExpressions", app.Metadata.Name)
		}
		for _, expr := range ig.JQPathExpressions {
			q, err := gojq.Parse("path(" + expr + ")")
			if err != nil {
				t.Fatalf("%s: jqPathExpression %q: %v", app.Metadata.Name, expr, err)
			}
			// gojq wants plain JSON values (float64 numbers).
			var doc any
			raw, _ := json.Marshal(live.Object)
			_ = json.Unmarshal(raw, &doc)
			iter := q.Run(doc)
			for {
				v, ok := iter.Next()
				if !ok {
					break
				}
				if err, isErr := v.(error); isErr {
					t.Fatalf("%s: jqPathExpression %q: %v", app.Metadata.Name, expr, err)
				}
				path, _ := v.([]any)
				out = append(out, pathString(path))
			}
		}
	}
	sort.Strings(out)
	return slices.Compact(out)
}

// pathString prints a path as jq would address it: .webhooks[0].failurePolicy.
func pathString(path []any) string {
	var b strings.Builder
	for _, p := range path {
		switch v := p.(type) {
		case string:
			b.WriteString("." + v)
		case int:
			fmt.Fprintf(&b, "[%d]", v)
		case float64:
			fmt.Fprintf(&b, "[%d]", int(v))
		}
	}
	return b.String()
}

func jsonEqual(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}
