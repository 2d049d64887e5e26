package renderer

import (
	"strconv"

	"go.yaml.in/yaml/v3"
	"istio.io/api/annotation"
	"istio.io/api/label"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshbundle/meshbundle/appmesh"
)

// injectionLabel is the namespace label of Istio's default injector
// webhook (istio.io/api has no constant for it).
const injectionLabel = "istio-injection"

// inject turns sidecar injection on or off:
//   - Namespaces in the stream get istio-injection: enabled|disabled;
//   - pod templates of Deployments, StatefulSets, DaemonSets, ReplicaSets
//     (and Jobs/CronJobs when asked) get the sidecar.istio.io/inject label
//     and annotation. The label makes Istio's webhook select the pod even
//     in an unlabelled namespace; writing the value into the template means
//     toggling injection changes the template, so the workload rolls and
//     the sidecar really appears or goes.
//
// Hook objects and Istio gateway workloads are left alone, and a value the
// chart already set is kept (with a warning when it differs).
type inject struct {
	*env
	exclude map[appmesh.WorkloadRef]bool
}

func newInject(e *env) *inject {
	ex := map[appmesh.WorkloadRef]bool{}
	for _, w := range e.am.Spec.Injection.Exclude {
		ex[w] = true
	}
	return &inject{env: e, exclude: ex}
}

func (f *inject) Filter(rs []*Resource) ([]*Resource, error) {
	for _, r := range rs {
		if err := f.Document(r); err != nil {
			return nil, err
		}
	}
	return f.Finish(rs)
}

// Document labels a Namespace or sets the inject label and annotation of a
// workload's pod template.
func (f *inject) Document(r *Resource) error {
	cfg := f.am.Spec.Injection
	enabled := *cfg.Enabled
	if r.IsHook() {
		return nil
	}
	if r.Kind == "Namespace" && r.Group() == "" {
		if *cfg.NamespaceLabel {
			f.labelNamespace(r, enabled)
		}
		return nil
	}
	tmpl := podTemplate(r)
	if tmpl == nil || isGatewayTemplate(tmpl) {
		return nil
	}
	want := enabled
	if (r.Kind == "Job" || r.Kind == "CronJob") && !cfg.Jobs {
		want = false
	}
	if f.exclude[appmesh.WorkloadRef{Kind: r.Kind, Name: r.Name}] || f.exclude[appmesh.WorkloadRef{Name: r.Name}] {
		want = false
	}
	f.setInject(r, tmpl, want)
	return nil
}

// Finish adds the app's Namespace when asked and the chart has none.
func (f *inject) Finish(rs []*Resource) ([]*Resource, error) {
	cfg := f.am.Spec.Injection
	enabled := *cfg.Enabled
	nsSeen := false
	for _, r := range rs {
		if r.Kind == "Namespace" && r.Group() == "" && !r.IsHook() && r.Name == f.am.Metadata.Namespace {
			nsSeen = true
		}
	}
	if cfg.EmitNamespace && !nsSeen {
		ns, err := f.emitNamespace(rs, enabled)
		if err != nil {
			return nil, err
		}
		rs = append([]*Resource{ns}, rs...)
	}
	return rs, nil
}

func (f *inject) labelNamespace(r *Resource, enabled bool) {
	want := "disabled"
	if enabled {
		want = "enabled"
	}
	lbls := r.Lookup("metadata", "labels")
	have := scalar(mapValue(lbls, injectionLabel))
	rev := scalar(mapValue(lbls, label.IoIstioRev.Name))
	switch {
	case have == want:
	case have != "" || rev != "":
		f.warnf("%s: keeping the chart's injection label (%s=%q, %s=%q) instead of %s=%s (fix: remove it from the chart or set spec.injection.namespaceLabel: false)",
			r, injectionLabel, have, label.IoIstioRev.Name, rev, injectionLabel, want)
	default:
		r.setIn(r.root(), []string{"metadata", "labels"}, injectionLabel, want)
	}
}

// setInject writes want into the pod template unless the chart already
// chose: Istio's webhook gives the label precedence over the annotation, so
// an explicit label or annotation from the chart is the chart's decision.
func (f *inject) setInject(r *Resource, tmpl *yaml.Node, want bool) {
	wantS := strconv.FormatBool(want)
	key := annotation.SidecarInject.Name // same key for label and annotation
	lblNode := lookup(tmpl, "metadata", "labels", label.SidecarInject.Name)
	annNode := lookup(tmpl, "metadata", "annotations", key)
	if lblNode != nil || annNode != nil {
		have := scalar(annNode)
		if lblNode != nil {
			have = scalar(lblNode)
		}
		if have != wantS {
			f.warnf("%s: keeping the pod template's %s=%q set by the chart; AppMesh wants %q (fix: remove it from the chart, or list the workload in spec.injection.exclude)",
				r, key, have, wantS)
		}
		return
	}
	r.setIn(tmpl, []string{"metadata", "labels"}, label.SidecarInject.Name, wantS)
	r.setIn(tmpl, []string{"metadata", "annotations"}, key, wantS)
}

func (f *inject) emitNamespace(rs []*Resource, enabled bool) (*Resource, error) {
	value := "disabled"
	if enabled {
		value = "enabled"
	}
	ns := &corev1.Namespace{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"},
		ObjectMeta: metav1.ObjectMeta{Name: f.am.Metadata.Namespace, Labels: map[string]string{injectionLabel: value}},
	}
	return f.generate(ns, firstFilename(rs))
}
