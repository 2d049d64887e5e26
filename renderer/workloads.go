package renderer

import (
	"go.yaml.in/yaml/v3"
	"istio.io/api/annotation"
	"k8s.io/apimachinery/pkg/labels"
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

// podTemplate returns the pod template mapping of a workload, or nil when r
// is not a workload of the apps or batch group.
func podTemplate(r *Resource) *yaml.Node {
	if g := r.Group(); g != "apps" && g != "batch" {
		return nil
	}
	path, ok := podTemplatePath[r.Kind]
	if !ok {
		return nil
	}
	n := r.Lookup(path...)
	if !isMap(n) {
		return nil
	}
	if n.Kind == yaml.AliasNode {
		// A template that is a YAML alias: expand it so edits stay local.
		*n = *deepCopy(n.Alias)
		r.markDirty()
	}
	return n
}

// isGatewayTemplate reports whether a pod template is an Istio gateway
// (inject.istio.io/templates: gateway); the renderer leaves those alone.
func isGatewayTemplate(tmpl *yaml.Node) bool {
	return scalar(lookup(tmpl, "metadata", "annotations", annotation.InjectTemplates.Name)) == "gateway"
}

// workload is the part of a chart workload the filters need.
type workload struct {
	res     *Resource
	labels  labelList   // pod template labels
	gateway bool        // an Istio gateway deployment
	ports   []namedPort // named container ports
}

// workloads indexes the non-hook workloads of the stream by pod label, so
// that finding the pods of a Service costs the size of one label bucket,
// not a scan of every workload (filters stay O(n)).
type workloads struct {
	byLabel  map[string][]int // "key=value" -> indexes into list
	list     []workload
	gateways []workload
}

// workloadIndex builds the index in one pass over the documents' facts.
func workloadIndex(rs []*Resource) *workloads {
	ix := &workloads{byLabel: map[string][]int{}}
	for _, r := range rs {
		f := r.facts()
		if f.hook || !f.workload {
			continue
		}
		w := workload{res: r, labels: f.podLabels, gateway: f.gateway, ports: f.namedPorts}
		for i := 0; i+1 < len(w.labels); i += 2 {
			kv := w.labels[i] + "=" + w.labels[i+1]
			ix.byLabel[kv] = append(ix.byLabel[kv], len(ix.list))
		}
		ix.list = append(ix.list, w)
		if w.gateway {
			ix.gateways = append(ix.gateways, w)
		}
	}
	return ix
}

// selected returns the workloads whose pods a Service selector matches,
// scanning only the smallest bucket of the selector's labels. An empty
// selector selects nothing (Services with manual endpoints).
func (ix *workloads) selected(selector map[string]string) []workload {
	if len(selector) == 0 {
		return nil
	}
	var bucket []int
	first := true
	for k, v := range selector {
		b := ix.byLabel[k+"="+v]
		if first || len(b) < len(bucket) {
			bucket, first = b, false
		}
	}
	sel := labels.SelectorFromSet(selector)
	var out []workload
	for _, i := range bucket {
		if sel.Matches(ix.list[i].labels) {
			out = append(out, ix.list[i])
		}
	}
	return out
}

// containerPort resolves a named container port of the workloads' pods.
func containerPort(ws []workload, name string) (int32, bool) {
	for _, w := range ws {
		for _, p := range w.ports {
			if p.name == name {
				return p.port, true
			}
		}
	}
	return 0, false
}

// serviceIndex maps the names of the non-hook Services in the stream.
func serviceIndex(rs []*Resource) map[string]*Resource {
	out := map[string]*Resource{}
	for _, r := range rs {
		if r.Kind == "Service" && r.Group() == "" && !r.IsHook() {
			out[r.Name] = r
		}
	}
	return out
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
func serviceSelector(svc *Resource) map[string]string { return svc.facts().selector.Map() }

// isHeadless reports clusterIP: None.
func isHeadless(svc *Resource) bool { return svc.facts().headless }

// selectsGateway reports whether a Service fronts an Istio gateway workload.
func (ix *workloads) selectsGateway(svc *Resource) bool {
	if len(ix.gateways) == 0 {
		return false
	}
	sel := serviceSelector(svc)
	if len(sel) == 0 {
		return false
	}
	s := labels.SelectorFromSet(sel)
	for _, w := range ix.gateways {
		if s.Matches(w.labels) {
			return true
		}
	}
	return false
}
