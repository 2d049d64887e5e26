package renderer

import (
	"strconv"

	"istio.io/api/annotation"
	"istio.io/api/label"

	"github.com/meshbundle/meshbundle/appmesh"
)

// injectionLabel is the namespace label of Istio's default injector
// webhook (istio.io/api has no constant for it).
const injectionLabel = "istio-injection"

// inject turns sidecar injection on or off:
//   - Namespaces in the stream get istio-injection: enabled|disabled, or
//     istio.io/rev: <revision> when spec.injection.revision pins one;
//   - pod templates of Deployments, StatefulSets, DaemonSets, ReplicaSets
//     (and Jobs/CronJobs when asked) get the sidecar.istio.io/inject label
//     and annotation. The label makes Istio's webhook select the pod even
//     in an unlabelled namespace; writing the value into the template means
//     toggling injection changes the template, so the workload rolls and
//     the sidecar really appears or goes.
//
// With spec.dataplane ambient there is no sidecar: Namespaces in the
// stream get istio.io/dataplane-mode: ambient (ztunnel carries their pods'
// traffic; joining or leaving needs no restart), pod templates get no
// sidecar label or annotation, and the workloads kept out (exclude, or all
// of them with injection disabled) get the pod label
// istio.io/dataplane-mode: none. Jobs stay in the mesh (no sidecar keeps
// them running), so hooks need nothing either.
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

// Document labels a Namespace or sets the inject label and annotation of a
// workload's pod template.
func (f *inject) Document(s *stream, r *Resource) error {
	cfg := f.am.Spec.Injection
	enabled := *cfg.Enabled
	if r.is("", "Namespace") {
		if *cfg.NamespaceLabel && !r.IsHook() {
			f.labelNamespace(s, r, enabled)
		}
		return nil
	}
	// A workload's hook annotation and gateway template are read from its
	// tree, not its facts: facts taken before the edits below would be
	// taken again after them (a twentieth of the CPU at 5 000 pairs).
	if podTemplate(r) == nil || r.get("metadata", "annotations", helmHookAnnotation).exists() ||
		r.get(templatePath(r, "metadata", "annotations", annotation.InjectTemplates.Name)...).str() == "gateway" {
		return nil
	}
	if f.ambient() {
		if !enabled || f.excluded(r) {
			f.setAmbientNone(s, r)
		}
		return nil
	}
	want := enabled
	if (r.Kind == "Job" || r.Kind == "CronJob") && !cfg.Jobs {
		want = false
	}
	if f.excluded(r) {
		want = false
	}
	f.setInject(s, r, templatePath(r), want)
	return nil
}

// ambient reports spec.dataplane: ambient.
func (f *inject) ambient() bool { return f.am.Spec.Dataplane == appmesh.DataplaneAmbient }

// excluded reports whether spec.injection.exclude names the workload.
func (f *inject) excluded(r *Resource) bool {
	return f.exclude[appmesh.WorkloadRef{Kind: r.Kind, Name: r.Name}] || f.exclude[appmesh.WorkloadRef{Name: r.Name}]
}

// setAmbientNone keeps an ambient workload's pods out of the mesh with the
// pod label istio.io/dataplane-mode: none, unless the chart chose a mode.
func (f *inject) setAmbientNone(s *stream, r *Resource) {
	key := label.IoIstioDataplaneMode.Name
	if have := r.get(templatePath(r, "metadata", "labels", key)...); have.exists() {
		if have.str() != "none" {
			f.warnf("%s: keeping the pod template's %s=%q set by the chart; AppMesh wants \"none\" (fix: remove it from the chart)", r, key, have.str())
		}
		return
	}
	s.set(r, templatePath(r, "metadata", "labels", key), "none")
}

// runsToCompletion reports whether a hook's pods end when their work is
// done (a Job, a CronJob, a bare Pod such as a helm test): a sidecar that
// is not a native one would keep them running.
func runsToCompletion(r *Resource) bool {
	return r.is("batch", "Job") || r.is("batch", "CronJob") || r.is("", "Pod")
}

// readsTree: Namespaces and the workloads it injects, and the bare Pods
// of hooks it may keep out of the mesh.
func (f *inject) readsTree(group, kind string) bool {
	_, workload := podTemplatePath[kind]
	return group == "" && (kind == "Namespace" || kind == "Pod") || (group == "apps" || group == "batch") && workload
}

// keepTree keeps the hooks that run to completion: Filter may keep them
// out of a namespace the renderer labels.
func (f *inject) keepTree(r *Resource) bool { return r.IsHook() && runsToCompletion(r) }

// hooksOutOfTheMesh gives hooks that run to completion in a namespace the
// stream's output labels for injection sidecar.istio.io/inject: "false":
// the namespace label would inject them, and a helm hook or test that
// never finishes blocks the release. Hooks are otherwise left alone;
// injection.jobs asks for them to be injected.
func (f *inject) hooksOutOfTheMesh(s *stream) {
	labelled := map[string]bool{}
	for _, r := range s.docs {
		if r.is("", "Namespace") && !r.IsHook() {
			l := r.facts().labels()
			labelled[r.Name] = l.Get(injectionLabel) == "enabled" || l.Get(label.IoIstioRev.Name) != ""
		}
	}
	for _, r := range s.docs {
		if !r.IsHook() || !runsToCompletion(r) || !labelled[f.namespaceOf(r)] {
			continue
		}
		if r.Kind == "Pod" {
			f.setInject(s, r, path{}, false)
		} else if podTemplate(r) != nil {
			f.setInject(s, r, templatePath(r), false)
		}
	}
}

// Filter adds the app's Namespace when asked and the chart has none, and
// keeps hooks out of the namespaces it labels.
func (f *inject) Filter(s *stream) error {
	if err := f.emitNamespace(s); err != nil {
		return err
	}
	if cfg := f.am.Spec.Injection; *cfg.Enabled && *cfg.NamespaceLabel && !cfg.Jobs && !f.ambient() {
		f.hooksOutOfTheMesh(s)
	}
	return nil
}

// emitNamespace adds the app's Namespace when asked and the chart has none.
func (f *inject) emitNamespace(s *stream) error {
	cfg := f.am.Spec.Injection
	if !cfg.EmitNamespace || s.ix.namespaces[f.am.Metadata.Namespace] {
		return nil
	}
	key, value := f.namespaceLabel(*cfg.Enabled)
	lbls := map[string]string{key: value}
	if key == "" {
		lbls = nil
	}
	nso := &namespaceObject{newAPIObject("v1", "Namespace", f.am.Metadata.Namespace, "")}
	nso.Metadata.Labels = lbls
	ns, err := f.generate(nso, firstFilename(s.docs))
	if err != nil {
		return err
	}
	s.insert(0, ns)
	return nil
}

// namespaceLabel is the label a Namespace of the app gets: istio.io/rev
// with the pinned revision or tag, else istio-injection; in ambient mode
// istio.io/dataplane-mode: ambient, or none at all when disabled (the pods
// are labelled out instead).
func (f *inject) namespaceLabel(enabled bool) (key, value string) {
	switch {
	case f.ambient() && enabled:
		return label.IoIstioDataplaneMode.Name, "ambient"
	case f.ambient():
		return "", ""
	case !enabled:
		return injectionLabel, "disabled"
	case f.am.Spec.Injection.Revision != "":
		return label.IoIstioRev.Name, f.am.Spec.Injection.Revision
	}
	return injectionLabel, "enabled"
}

func (f *inject) labelNamespace(s *stream, r *Resource, enabled bool) {
	key, want := f.namespaceLabel(enabled)
	lbls := r.get("metadata", "labels")
	if f.ambient() {
		// A sidecar label would win over ambient: Istio skips injected pods.
		mode := lbls.at(label.IoIstioDataplaneMode.Name).str()
		sidecar := lbls.at(injectionLabel).str() == "enabled" || lbls.at(label.IoIstioRev.Name).str() != ""
		switch {
		case sidecar:
			f.warnf("%s: the chart labels it for sidecar injection (%s or %s), which wins over ambient: its pods get sidecars (fix: remove the label from the chart)", r, injectionLabel, label.IoIstioRev.Name)
		case key == "" || mode == want:
		case mode != "":
			f.warnf("%s: keeping the chart's %s=%q instead of %s (fix: remove it from the chart or set spec.injection.namespaceLabel: false)", r, label.IoIstioDataplaneMode.Name, mode, want)
		default:
			s.set(r, path{"metadata", "labels", key}, want)
		}
		return
	}
	have := lbls.at(injectionLabel).str()
	rev := lbls.at(label.IoIstioRev.Name).str()
	switch {
	case key == injectionLabel && have == want:
	case key == label.IoIstioRev.Name && rev == want && have == "":
	case have != "" || rev != "":
		f.warnf("%s: keeping the chart's injection label (%s=%q, %s=%q) instead of %s=%s (fix: remove it from the chart or set spec.injection.namespaceLabel: false)",
			r, injectionLabel, have, label.IoIstioRev.Name, rev, key, want)
	default:
		s.set(r, path{"metadata", "labels", key}, want)
	}
}

// setInject writes want into the pod template unless the chart already
// chose: Istio's webhook gives the label precedence over the annotation, so
// an explicit label or annotation from the chart is the chart's decision.
func (f *inject) setInject(s *stream, r *Resource, pod path, want bool) {
	wantS := strconv.FormatBool(want)
	key := annotation.SidecarInject.Name // same key for label and annotation
	at := func(more ...any) path {
		p := make(path, len(pod), len(pod)+len(more))
		copy(p, pod)
		return append(p, more...)
	}
	lblPath, annPath := at("metadata", "labels", label.SidecarInject.Name), at("metadata", "annotations", key)
	lbl := r.get(lblPath...)
	ann := r.get(annPath...)
	if lbl.exists() || ann.exists() {
		have := ann.str()
		if lbl.exists() {
			have = lbl.str()
		}
		if have != wantS {
			f.warnf("%s: keeping the pod template's %s=%q set by the chart; AppMesh wants %q (fix: remove it from the chart, or list the workload in spec.injection.exclude)",
				r, key, have, wantS)
		}
		return
	}
	s.set(r, lblPath, wantS)
	s.set(r, annPath, wantS)
}
