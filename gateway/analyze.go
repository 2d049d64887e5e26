package gateway

import (
	"context"
	"fmt"
	"strings"

	"helm.sh/helm/v3/pkg/releaseutil"
	"istio.io/istio/pkg/config/analysis/analyzers"
	"istio.io/istio/pkg/config/analysis/diag"
	"istio.io/istio/pkg/config/analysis/local"
	"istio.io/istio/pkg/config/resource"
	kubelib "istio.io/istio/pkg/kube"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/meshbundle/meshbundle/failure"
	"github.com/meshbundle/meshbundle/installer"
)

// istioNamespace is where the analyzers look for the mesh config.
const istioNamespace = "istio-system"

// check runs Istio's analyzers the way `istioctl analyze -f planned.yaml`
// does: the live cluster overlaid with the planned objects (files take
// precedence over the cluster in Istio's analyzer). A Deployment of the
// release also counts as the pod it will run, so a Gateway selecting the
// gateway being added is satisfied, while one selecting labels no pod has
// is not. Error-level messages refuse the change (AnalysisError); the
// others come back as warnings.
func check(ctx context.Context, cl *installer.Cluster, ns, name, manifest string) ([]string, error) {
	planned, err := plannedObjects(ns, manifest)
	if err != nil {
		return nil, fmt.Errorf("gateway %s/%s: read rendered manifest: %w", ns, name, err)
	}
	kc, err := kubelib.NewCLIClient(kubelib.NewClientConfigForRestConfig(cl.RESTConfig()))
	if err != nil {
		return nil, fmt.Errorf("gateway %s/%s: Istio kube client: %w", ns, name, err)
	}
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		select {
		case <-ctx.Done():
		case <-stop:
		}
	}()
	msgs, err := analyze(planned, kc, stop)
	if err != nil {
		return nil, fmt.Errorf("gateway %s/%s: analyze: %w", ns, name, err)
	}
	// The whole cluster is analyzed (VirtualServices binding to the
	// gateway live in app namespaces); errors refuse the change when they
	// are about the gateway's namespace or name it, other errors existed
	// before and are passed on as warnings.
	var errs, warnings []string
	ref := ns + "/" + name
	for _, m := range msgs {
		ours := m.Resource == nil || m.Resource.Metadata.FullName.Namespace.String() == ns || strings.Contains(m.String(), ref)
		switch {
		case m.Type.Level() == diag.Error && ours:
			errs = append(errs, m.String())
		case m.Type.Level() == diag.Error:
			warnings = append(warnings, "(not caused by this change) "+m.String())
		default:
			warnings = append(warnings, m.String())
		}
	}
	if len(errs) > 0 {
		return warnings, &failure.BadInputError{Err: &AnalysisError{Gateway: ns + "/" + name, Messages: errs}}
	}
	return warnings, nil
}

// analyze runs all of Istio's analyzers on the planned objects, over the
// running cluster when kc is not nil.
func analyze(planned string, kc kubelib.Client, stop chan struct{}) (diag.Messages, error) {
	sa := local.NewIstiodAnalyzer(analyzers.AllCombined(), resource.Namespace(""), resource.Namespace(istioNamespace), nil)
	// The "test" reader keeps Pods and Services, which the plain file
	// reader drops (they are runtime objects to istioctl); the planned pod
	// and Service of the gateway are exactly what the Gateway checks need.
	if err := sa.AddTestReaderKubeSource([]local.ReaderSource{{Name: "planned", Reader: strings.NewReader(planned)}}); err != nil {
		return nil, err
	}
	if kc != nil {
		// As istioctl analyze does: the CRD watcher lets the client start
		// informers only for the Istio kinds the cluster serves.
		sa.AddRunningKubeSource(kubelib.EnableCrdWatcher(kc))
	}
	res, err := sa.Analyze(stop)
	if err != nil {
		return nil, err
	}
	return res.Messages, nil
}

// plannedObjects are the release's objects as the API server will hold
// them (namespace set), plus one Pod per Deployment from its template.
func plannedObjects(ns, manifest string) (string, error) {
	var docs []string
	for _, doc := range releaseutil.SplitManifests(manifest) {
		var u unstructured.Unstructured
		if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
			return "", err
		}
		if u.Object == nil {
			continue
		}
		if u.GetNamespace() == "" && !strings.HasPrefix(u.GetKind(), "Cluster") {
			u.SetNamespace(ns)
		}
		out, err := yaml.Marshal(u.Object)
		if err != nil {
			return "", err
		}
		docs = append(docs, string(out))
		if u.GetKind() == "Deployment" {
			pod, err := podOf(&u)
			if err != nil {
				return "", err
			}
			docs = append(docs, pod)
		}
	}
	return strings.Join(docs, "---\n"), nil
}

// podOf is the pod the Deployment's ReplicaSet will create.
func podOf(d *unstructured.Unstructured) (string, error) {
	tmpl, _, _ := unstructured.NestedMap(d.Object, "spec", "template")
	meta, _ := tmpl["metadata"].(map[string]any)
	if meta == nil {
		meta = map[string]any{}
	}
	meta["name"] = d.GetName() + "-planned"
	meta["namespace"] = d.GetNamespace()
	spec, _ := tmpl["spec"].(map[string]any)
	// The pod as it runs: istiod's injector replaces the chart's
	// "image: auto" placeholder (whether the Deployment will be injected at
	// all is the analyzers' check on the Deployment itself, IST0146).
	containers, _ := spec["containers"].([]any)
	for _, c := range containers {
		if m, ok := c.(map[string]any); ok && m["image"] == "auto" {
			m["image"] = "docker.io/istio/proxyv2:" + installer.PinnedTag
		}
	}
	out, err := yaml.Marshal(map[string]any{"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec})
	return string(out), err
}
