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
	hook     bool
	filename string

	// Services and Namespaces (core group).
	labels   labelList     // metadata.labels
	ports    []servicePort // spec.ports
	selector labelList     // spec.selector
	headless bool          // spec.clusterIP: None

	// Workloads with a pod template (podTemplatePath).
	workload   bool
	podLabels  labelList   // pod template labels
	gateway    bool        // an Istio gateway pod template
	namedPorts []namedPort // container ports with a name, in order

	// VirtualService spec.hosts, DestinationRule spec.host.
	hosts []string
}

// facts returns the document's facts, reading them from the tree the first
// time (and after an edit).
func (r *Resource) facts() *facts {
	if r.f != nil {
		return r.f
	}
	obj := r.root()
	f := &facts{
		hook:     lookup(obj, "metadata", "annotations", helmHookAnnotation) != nil,
		filename: scalar(lookup(obj, "metadata", "annotations", postRenderFilenameAnnotation)),
	}
	switch {
	case r.is("", "Namespace"):
		f.labels = readLabels(lookup(obj, "metadata", "labels"))
	case r.is("", "Service"):
		f.labels = readLabels(lookup(obj, "metadata", "labels"))
		f.ports = readServicePorts(lookup(obj, "spec", "ports"))
		f.selector = readLabels(lookup(obj, "spec", "selector"))
		f.headless = scalar(lookup(obj, "spec", "clusterIP")) == "None"
	case r.is("networking.istio.io", "VirtualService"):
		if hosts := lookup(obj, "spec", "hosts"); hosts != nil && hosts.Kind == yaml.SequenceNode {
			for _, h := range hosts.Content {
				f.hosts = append(f.hosts, scalar(h))
			}
		}
	case r.is("networking.istio.io", "DestinationRule"):
		f.hosts = []string{scalar(lookup(obj, "spec", "host"))}
	}
	if p := podTemplate(r); p != nil {
		tmpl := deref(lookup(obj, p...))
		f.workload = true
		f.podLabels = readLabels(lookup(tmpl, "metadata", "labels"))
		f.gateway = isGatewayTemplate(tmpl)
		f.namedPorts = containerPorts(tmpl)
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
func readLabels(n *yaml.Node) labelList {
	if !isMap(n) {
		return nil
	}
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	out := make(labelList, 0, len(n.Content))
	for i := 0; i+1 < len(n.Content); i += 2 {
		out = append(out, n.Content[i].Value, scalar(n.Content[i+1]))
	}
	return out
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
