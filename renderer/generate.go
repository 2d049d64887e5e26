package renderer

import (
	"encoding/json"
	"fmt"
	"math"

	yamlv2 "go.yaml.in/yaml/v2"
	istionet "istio.io/client-go/pkg/apis/networking/v1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// object is a typed API object the renderer generates.
type object interface {
	metav1.Object
}

// generate encodes a typed object as a Resource. It labels the object with
// the app name and gives it the Helm 4 post-render filename of the object it
// was derived from, so Helm regroups it with its source. sigs.k8s.io/yaml
// sorts keys, so the bytes are deterministic.
func (e *env) generate(obj object, filename string) (*Resource, error) {
	if e.am.Metadata.Name != "" {
		lbls := obj.GetLabels()
		if lbls == nil {
			lbls = map[string]string{}
		}
		lbls[appLabel] = e.am.Metadata.Name
		obj.SetLabels(lbls)
	}
	if filename != "" {
		anns := obj.GetAnnotations()
		if anns == nil {
			anns = map[string]string{}
		}
		anns[postRenderFilenameAnnotation] = filename
		obj.SetAnnotations(anns)
	}
	// Through a generic map so that the zero status and creationTimestamp
	// the typed structs carry are dropped: they are not ours to set.
	js, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("encode generated %s %s: %w", obj.GetName(), obj.GetNamespace(), err)
	}
	var m map[string]any
	if err := json.Unmarshal(js, &m); err != nil {
		return nil, fmt.Errorf("encode generated %s %s: %w", obj.GetName(), obj.GetNamespace(), err)
	}
	delete(m, "status")
	if spec, ok := m["spec"].(map[string]any); ok && len(spec) == 0 {
		delete(m, "spec")
	}
	if meta, ok := m["metadata"].(map[string]any); ok {
		delete(meta, "creationTimestamp")
	}
	// What sigs.k8s.io/yaml.Marshal(m) prints, without its JSON round
	// trip: it re-encodes m as JSON and parses that with yaml.v2 only to
	// get integers back from JSON's float64s, which integers does directly.
	raw, err := yamlv2.Marshal(integers(m))
	if err != nil {
		return nil, fmt.Errorf("encode generated %s %s: %w", obj.GetName(), obj.GetNamespace(), err)
	}
	apiVersion, _ := m["apiVersion"].(string)
	kind, _ := m["kind"].(string)
	r := &Resource{raw: raw, APIVersion: apiVersion, Kind: kind, Name: obj.GetName(), Namespace: obj.GetNamespace()}
	// Its facts come from the typed object, so no filter has to parse the
	// bytes just written; the tree is parsed only if a filter edits it.
	r.f = generatedFacts(obj, filename)
	return r, nil
}

// generatedFacts are the facts of a generated object (see facts), or nil
// for a workload, whose facts are read from its tree when needed.
func generatedFacts(obj object, filename string) *facts {
	f := &facts{filename: filename}
	switch o := obj.(type) {
	case *corev1.Service:
		for _, p := range o.Spec.Ports {
			sp := servicePort{Name: p.Name, Port: p.Port, Protocol: string(p.Protocol), AppProtocol: p.AppProtocol}
			if p.TargetPort != (intstr.IntOrString{}) {
				sp.TargetPort = p.TargetPort.String()
			}
			f.ports = append(f.ports, sp)
		}
		f.selector = labelListOf(o.Spec.Selector)
		f.headless = o.Spec.ClusterIP == corev1.ClusterIPNone
	case *istionet.VirtualService:
		f.hosts = o.Spec.Hosts
	case *istionet.DestinationRule:
		f.hosts = []string{o.Spec.Host}
	case *appsv1.Deployment, *appsv1.StatefulSet, *appsv1.DaemonSet, *appsv1.ReplicaSet, *batchv1.Job, *batchv1.CronJob:
		return nil
	}
	return f
}

// firstFilename is the post-render filename of the first object that has
// one, for objects derived from the release as a whole.
func firstFilename(rs []*Resource) string {
	for _, r := range rs {
		if f := r.Filename(); f != "" {
			return f
		}
	}
	return ""
}

// integers turns the integral float64s encoding/json decodes numbers into
// back into int64s, in place, as yaml.v2 would read them from JSON.
func integers(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			v[k] = integers(e)
		}
	case []any:
		for i, e := range v {
			v[i] = integers(e)
		}
	case float64:
		if v == math.Trunc(v) && math.Abs(v) < 1<<53 {
			return int64(v)
		}
	}
	return v
}
