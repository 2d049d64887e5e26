package renderer

import (
	"slices"

	"go.yaml.in/yaml/v3"
	"istio.io/api/annotation"
)

// podTemplatePath is where each workload kind keeps its pod template.
var podTemplatePath = map[string][]string{
	"Deployment":  {"spec", "template"},
	"StatefulSet": {"spec", "template"},
	"DaemonSet":   {"spec", "template"},
	"ReplicaSet":  {"spec", "template"},
	"Job":         {"spec", "template"},
	"CronJob":     {"spec", "jobTemplate", "spec", "template"},
}

// podTemplate returns the path of a workload's pod template mapping, or
// nil when r is not a workload of the apps or batch group (or has none).
func podTemplate(r *Resource) []string {
	if g := r.Group(); g != "apps" && g != "batch" {
		return nil
	}
	p, ok := podTemplatePath[r.Kind]
	if !ok || !isMap(lookup(r.root(), p...)) {
		return nil
	}
	return p
}

// templatePath is the path of a workload's pod template followed by more
// steps, for get and set: one allocation (the steps of each kind's path
// are made once, in podTemplateSteps).
func templatePath(r *Resource, more ...any) path {
	steps := podTemplateSteps[r.Kind]
	if podTemplate(r) == nil {
		steps = nil
	}
	p := make(path, len(steps), len(steps)+len(more))
	copy(p, steps)
	return append(p, more...)
}

// podTemplateSteps is podTemplatePath as path steps.
var podTemplateSteps = func() map[string]path {
	m := map[string]path{}
	for kind, keys := range podTemplatePath {
		for _, k := range keys {
			m[kind] = append(m[kind], k)
		}
	}
	return m
}()

// isGatewayTemplate reports whether a pod template is an Istio gateway
// (inject.istio.io/templates: gateway); the renderer leaves those alone.
func isGatewayTemplate(tmpl *yaml.Node) bool {
	return scalar(lookup(tmpl, "metadata", "annotations", annotation.InjectTemplates.Name)) == "gateway"
}

// workloads indexes the non-hook workloads of the stream by pod label, so
// that finding the pods of a Service costs the size of one label bucket,
// not a scan of every workload (filters stay O(n)). Entries read the
// workload's current facts, so an edit of its labels (refresh) keeps the
// index true.
type workloads struct {
	byLabel map[labelKV][]*Resource // a pod label -> workloads with that label
}

// labelKV is one label, a key of the index: its strings are the facts'
// own (no "key=value" string made per workload and label).
type labelKV struct{ key, value string }

func newWorkloads() *workloads {
	return &workloads{byLabel: map[labelKV][]*Resource{}}
}

// add indexes a workload under each of its pod labels; after an edit of
// its labels it is added again (selected skips the repeats).
func (ix *workloads) add(r *Resource) {
	f := r.facts()
	if f.hook() || !f.workload() {
		return
	}
	pl := f.podLabels()
	for i := 0; i+1 < len(pl); i += 2 {
		kv := labelKV{pl[i], pl[i+1]}
		b := ix.byLabel[kv]
		if len(b) == 0 || b[len(b)-1] != r {
			ix.byLabel[kv] = append(b, r)
		}
	}
}

// selected returns the workloads whose pods a Service selector matches,
// scanning only the smallest bucket of the selector's labels. An empty
// selector selects nothing (Services with manual endpoints).
func (ix *workloads) selected(selector labelList) []*Resource {
	if len(selector) == 0 {
		return nil
	}
	var bucket []*Resource
	for i := 0; i+1 < len(selector); i += 2 {
		b := ix.byLabel[labelKV{selector[i], selector[i+1]}]
		if i == 0 || len(b) < len(bucket) {
			bucket = b
		}
	}
	var out []*Resource
	var seen map[*Resource]bool // a workload is listed again after an edit of its labels
	for _, w := range bucket {
		if !selector.selects(w.facts().podLabels()) {
			continue
		}
		if len(out) < 8 {
			if slices.Contains(out, w) {
				continue
			}
		} else {
			if seen == nil {
				seen = make(map[*Resource]bool, len(bucket))
				for _, o := range out {
					seen[o] = true
				}
			}
			if seen[w] {
				continue
			}
			seen[w] = true
		}
		out = append(out, w)
	}
	return out
}

// selectsGateway reports whether a Service fronts an Istio gateway workload.
func (ix *workloads) selectsGateway(svc *Resource) bool {
	for _, w := range ix.selected(svc.facts().selector()) {
		if w.facts().gateway() {
			return true
		}
	}
	return false
}

// containerPort resolves a named container port of the workloads' pods.
func containerPort(ws []*Resource, name string) (int32, bool) {
	for _, w := range ws {
		for _, p := range w.facts().namedPorts {
			if p.name == name {
				return p.port, true
			}
		}
	}
	return 0, false
}

// servicePort is one entry of a Service's spec.ports.
type servicePort struct {
	Name        string
	Port        int32
	Protocol    string // TCP, UDP, SCTP ("" = TCP)
	AppProtocol *string
	TargetPort  string // as written: a number or a container port name
}

// servicePorts is spec.ports of a Service.
func servicePorts(svc *Resource) []servicePort { return svc.facts().ports }

// serviceSelector is spec.selector of a Service.
func serviceSelector(svc *Resource) map[string]string { return svc.facts().selector().Map() }

// isHeadless reports clusterIP: None.
func isHeadless(svc *Resource) bool { return svc.facts().headless() }
