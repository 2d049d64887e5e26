package renderer

import (
	"strconv"

	"go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/labels"
)

// facts are what the filters read of documents they do not edit: whether
// it is a hook, its Helm 4 filename, and per kind the parts that find
// Services, pods and routes. They are taken from the tree once, so the tree
// can be released (Resource.release) and every filter's pass over the whole
// stream reads a few fields instead of walking nodes.
type facts struct {
	bits factBits
	// nLabels is how many entries of strs are labels (key, value, ...).
	nLabels uint32

	// strs holds the string facts in one slice (one allocation per
	// document: facts are kept for every document of the stream, so they
	// are 80 bytes and this slice): the labels that matter for the kind —
	// a Service's or Namespace's metadata.labels, a workload's pod
	// template labels — then a Service's spec.selector (key, value, ...),
	// or the hosts of a VirtualService (spec.hosts) or DestinationRule
	// (spec.host), then Helm 4's post-render filename if there is one.
	strs []string

	ports      []servicePort // a Service's spec.ports
	namedPorts []namedPort   // a workload's container ports with a name, in order
}

// factBits are the yes/no facts, one bit each.
type factBits uint8

const (
	factHook     factBits = 1 << iota // a Helm hook
	factHeadless                      // a Service with spec.clusterIP: None
	factWorkload                      // a workload with a pod template (podTemplatePath)
	factGateway                       // a workload whose pod template is an Istio gateway
	factFilename                      // the last entry of strs is Helm 4's post-render filename
)

func (f *facts) hook() bool     { return f.bits&factHook != 0 }
func (f *facts) headless() bool { return f.bits&factHeadless != 0 }
func (f *facts) workload() bool { return f.bits&factWorkload != 0 }
func (f *facts) gateway() bool  { return f.bits&factGateway != 0 }

func (f *facts) set(b factBits, on bool) {
	if on {
		f.bits |= b
	}
}

// labels are a Service's or Namespace's metadata.labels.
func (f *facts) labels() labelList { return labelList(f.strs[:f.nLabels:f.nLabels]) }

// podLabels are a workload's pod template labels.
func (f *facts) podLabels() labelList { return f.labels() }

// selector is a Service's spec.selector.
func (f *facts) selector() labelList { return labelList(f.more()) }

// hosts are a VirtualService's spec.hosts or a DestinationRule's
// spec.host.
func (f *facts) hosts() []string { return f.more() }

func (f *facts) more() []string {
	end := len(f.strs)
	if f.bits&factFilename != 0 {
		end--
	}
	return f.strs[f.nLabels:end:end]
}

// filename is Helm 4's post-render filename ("" with Helm 3).
func (f *facts) filename() string {
	if f.bits&factFilename == 0 {
		return ""
	}
	return f.strs[len(f.strs)-1]
}

// factsRead reports whether facts reads more than the hook and filename of
// documents of the kind (see treeOf): Namespaces, Services,
// VirtualServices, DestinationRules and workloads.
func factsRead(group, kind string) bool {
	switch group {
	case "":
		return kind == "Namespace" || kind == "Service"
	case "networking.istio.io":
		return kind == "VirtualService" || kind == "DestinationRule"
	case "apps", "batch":
		_, ok := podTemplatePath[kind]
		return ok
	}
	return false
}

// prunedTree is what the Reader keeps of the trees of Services and
// workloads, which filters read and edit: everything but subtrees no
// filter reads, which can make one document wide — a Service's or a
// workload's annotations beyond the two every document's facts read (no
// filter edits them), and of each container of a pod template all but its
// name, image and ports (its env, args, probes, mounts, resources: no
// filter reads them). A mapping cut so is marked: a read of a key it
// dropped panics (mapValue), and an edit through it, or one that cannot be
// a byte patch, parses the document whole first (Resource.unprune). nil:
// the whole tree. A filter that reads more of these kinds must say so
// (wholeTreeReader) or widen the cuts here.
func prunedTree(group, kind string) *keepSet {
	switch {
	case group == "" && kind == "Service":
		return serviceKeep
	case (group == "apps" || group == "batch") && kind == "CronJob":
		return cronJobKeep
	case group == "apps" || group == "batch":
		if _, ok := podTemplatePath[kind]; ok {
			return workloadKeep
		}
	}
	return nil
}

var (
	// annotationsKeep cuts metadata.annotations to what facts read.
	annotationsKeep = cutTo("annotations", map[string]*keepSet{helmHookAnnotation: nil, postRenderFilenameAnnotation: nil})
	metadataKeep    = passing(map[string]*keepSet{"annotations": annotationsKeep})
	serviceKeep     = passing(map[string]*keepSet{"metadata": metadataKeep})
	// containerKeep cuts a container to what facts (named ports) read.
	containerKeep = cutTo("container", map[string]*keepSet{"name": nil, "image": nil, "ports": nil})
	// podTemplateKeep passes the pod template's metadata whole (inject
	// edits it) and cuts its containers.
	podTemplateKeep = passing(map[string]*keepSet{"spec": passing(map[string]*keepSet{
		"containers": containerKeep, "initContainers": containerKeep})})
	workloadKeep = passing(map[string]*keepSet{"metadata": metadataKeep,
		"spec": passing(map[string]*keepSet{"template": podTemplateKeep})})
	cronJobKeep = passing(map[string]*keepSet{"metadata": metadataKeep,
		"spec": passing(map[string]*keepSet{"jobTemplate": passing(map[string]*keepSet{
			"spec": passing(map[string]*keepSet{"template": podTemplateKeep})})})})
)

// facts returns the document's facts, reading them from the tree the first
// time (and after an edit).
func (r *Resource) facts() *facts {
	if r.f != nil {
		return r.f
	}
	obj := r.root()
	f := &facts{}
	f.set(factHook, lookup(obj, "metadata", "annotations", helmHookAnnotation) != nil)
	filename := scalar(lookup(obj, "metadata", "annotations", postRenderFilenameAnnotation))
	// labels and more are the two parts of strs.
	var labels, more *yaml.Node
	var hosts []*yaml.Node
	switch {
	case r.is("", "Namespace"):
		labels = lookup(obj, "metadata", "labels")
	case r.is("", "Service"):
		labels, more = lookup(obj, "metadata", "labels"), lookup(obj, "spec", "selector")
		f.ports = readServicePorts(lookup(obj, "spec", "ports"))
		f.set(factHeadless, scalar(lookup(obj, "spec", "clusterIP")) == "None")
	case r.is("networking.istio.io", "VirtualService"):
		if h := lookup(obj, "spec", "hosts"); h != nil && h.Kind == yaml.SequenceNode {
			hosts = h.Content
		}
	case r.is("networking.istio.io", "DestinationRule"):
		hosts = []*yaml.Node{lookup(obj, "spec", "host")}
	}
	if p := podTemplate(r); p != nil {
		tmpl := deref(lookup(obj, p...))
		f.set(factWorkload, true)
		labels = lookup(tmpl, "metadata", "labels")
		f.set(factGateway, isGatewayTemplate(tmpl))
		f.namedPorts = containerPorts(tmpl)
	}
	nFile := 0
	if filename != "" {
		nFile = 1
	}
	strs := make([]string, 0, labelCount(labels)+labelCount(more)+len(hosts)+nFile)
	strs = appendLabels(strs, labels)
	f.nLabels = uint32(len(strs))
	strs = appendLabels(strs, more)
	for _, h := range hosts {
		strs = append(strs, scalar(h))
	}
	if filename != "" {
		strs = append(strs, filename)
		f.set(factFilename, true)
	}
	if len(strs) > 0 {
		f.strs = strs
	}
	r.f = f
	return f
}

// readServicePorts reads a Service's spec.ports sequence.
func readServicePorts(seq *yaml.Node) []servicePort {
	if seq == nil || seq.Kind != yaml.SequenceNode {
		return nil
	}
	out := make([]servicePort, 0, len(seq.Content))
	for _, p := range seq.Content {
		sp := servicePort{
			Name:       scalar(mapValue(p, "name")),
			Protocol:   scalar(mapValue(p, "protocol")),
			TargetPort: scalar(mapValue(p, "targetPort")),
		}
		if n, err := strconv.ParseInt(scalar(mapValue(p, "port")), 10, 32); err == nil {
			sp.Port = int32(n)
		}
		if ap := mapValue(p, "appProtocol"); ap != nil && scalar(ap) != "" {
			v := scalar(ap)
			sp.AppProtocol = &v
		}
		out = append(out, sp)
	}
	return out
}

// namedPort is a container port with a name.
type namedPort struct {
	name string
	port int32
}

// containerPorts lists the named ports of a pod template's containers and
// init containers, in that order.
func containerPorts(tmpl *yaml.Node) []namedPort {
	var out []namedPort
	for _, list := range []string{"containers", "initContainers"} {
		cs := lookup(tmpl, "spec", list)
		if cs == nil || cs.Kind != yaml.SequenceNode {
			continue
		}
		for _, c := range cs.Content {
			ports := mapValue(c, "ports")
			if ports == nil || ports.Kind != yaml.SequenceNode {
				continue
			}
			for _, p := range ports.Content {
				name := scalar(mapValue(p, "name"))
				if name == "" {
					continue
				}
				n, err := strconv.ParseInt(scalar(mapValue(p, "containerPort")), 10, 32)
				if err != nil {
					continue
				}
				out = append(out, namedPort{name, int32(n)})
			}
		}
	}
	return out
}

// labelList holds a few labels as key, value, key, value, ...: facts keep
// the labels and selector of every document, and a Go map costs hundreds of
// bytes each where this costs the strings. It implements labels.Labels.
type labelList []string

// readLabels reads a mapping of scalars (labels, a selector).
func readLabels(n *yaml.Node) labelList { return appendLabels(nil, n) }

// labelCount is how many strings appendLabels appends for n.
func labelCount(n *yaml.Node) int {
	if !isMap(n) {
		return 0
	}
	return len(deref(n).Content)
}

// appendLabels appends a mapping of scalars (labels, a selector) to l as
// key, value, ...
func appendLabels(l labelList, n *yaml.Node) labelList {
	if !isMap(n) {
		return l
	}
	n = deref(n)
	mustBeWhole(n)
	if l == nil {
		l = make(labelList, 0, len(n.Content))
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		l = append(l, n.Content[i].Value, scalar(n.Content[i+1]))
	}
	return l
}

// Lookup returns the value of key and whether it is set; a key repeated in
// the source (which the Reader refuses) would resolve to its first value.
func (l labelList) Lookup(key string) (string, bool) {
	for i := 0; i+1 < len(l); i += 2 {
		if l[i] == key {
			return l[i+1], true
		}
	}
	return "", false
}

// selects reports whether l, a selector, matches labels as
// labels.SelectorFromSet(l.Map()).Matches(labels) does (every key set to
// its value), without building the map and selector: a non-empty l only
// (an empty selector selects everything there, nothing to a Service).
func (l labelList) selects(labels labelList) bool {
	for i := 0; i+1 < len(l); i += 2 {
		if v, ok := labels.Lookup(l[i]); !ok || v != l[i+1] {
			return false
		}
	}
	return true
}

// Has reports whether key is set.
func (l labelList) Has(key string) bool { _, ok := l.Lookup(key); return ok }

// Get returns the value of key ("" when unset).
func (l labelList) Get(key string) string { v, _ := l.Lookup(key); return v }

// Map returns the labels as a map (nil when empty), e.g. for
// labels.SelectorFromSet.
func (l labelList) Map() map[string]string {
	if len(l) == 0 {
		return nil
	}
	m := make(map[string]string, len(l)/2)
	for i := 0; i+1 < len(l); i += 2 {
		m[l[i]] = l[i+1]
	}
	return m
}

var _ labels.Labels = labelList(nil)
