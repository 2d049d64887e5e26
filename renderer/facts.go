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

	// Services (core group).
	ports    []servicePort     // spec.ports
	selector map[string]string // spec.selector
	headless bool              // spec.clusterIP: None

	// Workloads with a pod template (podTemplatePath).
	workload   bool
	podLabels  labels.Set       // pod template labels
	gateway    bool             // an Istio gateway pod template
	namedPorts map[string]int32 // container ports by name, first one wins

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
	case r.Kind == "Service" && r.Group() == "":
		f.ports = readServicePorts(lookup(obj, "spec", "ports"))
		f.selector = stringMap(lookup(obj, "spec", "selector"))
		f.headless = scalar(lookup(obj, "spec", "clusterIP")) == "None"
	case r.Group() == "networking.istio.io" && r.Kind == "VirtualService":
		if hosts := lookup(obj, "spec", "hosts"); hosts != nil && hosts.Kind == yaml.SequenceNode {
			for _, h := range hosts.Content {
				f.hosts = append(f.hosts, scalar(h))
			}
		}
	case r.Group() == "networking.istio.io" && r.Kind == "DestinationRule":
		f.hosts = []string{scalar(lookup(obj, "spec", "host"))}
	}
	if tmpl := podTemplate(r); tmpl != nil {
		f.workload = true
		f.podLabels = labels.Set(stringMap(lookup(tmpl, "metadata", "labels")))
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

// containerPorts maps the named ports of a pod template's containers and
// init containers (in that order; the first of a name wins).
func containerPorts(tmpl *yaml.Node) map[string]int32 {
	var out map[string]int32
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
				if _, seen := out[name]; !seen {
					if out == nil {
						out = map[string]int32{}
					}
					out[name] = int32(n)
				}
			}
		}
	}
	return out
}
