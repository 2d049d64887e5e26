package renderer

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/meshbundle/meshbundle/appmesh"
)

// StateKey is the ConfigMap data key holding the applied AppMesh.
const StateKey = "appmesh.yaml"

// StateConfigMapName is the name of the state ConfigMap of an app.
func StateConfigMapName(app string) string { return "meshbundle-" + app }

// RenderedAnnotation is on every routing object the renderer generates for
// an app (VirtualService, DestinationRule, HTTPRoute, GRPCRoute, TCPRoute):
// a hash of the object as rendered, without this annotation. The state
// ConfigMap lists the same hashes (RoutingAnnotation), so the canary gate
// can tell that the routing objects a step rendered arrived, whatever order
// a sync tool applies the release in (Argo CD: ConfigMaps first, custom
// resources last). A hash of the content, not of the canary state: an
// object a step does not change keeps its hash and is not rewritten.
const RenderedAnnotation = "meshbundle.dev/rendered"

// RoutingAnnotation is on the state ConfigMap: the app's routing objects
// the same render generated in the ConfigMap's namespace (the release's), as
// "<Kind>/<name>=<hash>" joined by commas, sorted (empty: none).
const RoutingAnnotation = "meshbundle.dev/routing"

// routingKinds are the kinds of routing objects the canary gate reads
// (canary/effect.go), by API group.
var routingKinds = map[string]string{
	"VirtualService":  "networking.istio.io",
	"DestinationRule": "networking.istio.io",
	"HTTPRoute":       "gateway.networking.k8s.io",
	"GRPCRoute":       "gateway.networking.k8s.io",
	"TCPRoute":        "gateway.networking.k8s.io",
}

// stamp sets RenderedAnnotation on a routing object generate is building
// (m, its plain form; meta, its metadata) and records it for the state
// ConfigMap. The hash is of the object's JSON without the annotation
// (encoding/json sorts map keys): the same object renders the same hash,
// whatever the step. A filter that edits the object later restamps it.
func (e *env) stamp(m, meta map[string]any) error {
	kind, _ := m["kind"].(string)
	apiVersion, _ := m["apiVersion"].(string)
	group, _, _ := strings.Cut(apiVersion, "/")
	if want, ok := routingKinds[kind]; e.am.Metadata.Name == "" || !ok || want != group {
		return nil
	}
	hash, err := contentHash(m)
	if err != nil {
		return err
	}
	anns, _ := meta["annotations"].(map[string]any)
	if anns == nil {
		anns = map[string]any{}
		meta["annotations"] = anns
	}
	anns[RenderedAnnotation] = hash
	name, _ := meta["name"].(string)
	ns, _ := meta["namespace"].(string)
	e.record(kind, name, ns, hash)
	return nil
}

// restamp is stamp for a generated routing object a filter edited after
// generate stamped it (the routes filter: a canary's VirtualService and
// DestinationRule), from its edited tree.
func (e *env) restamp(s *stream, r *Resource) error {
	if r.get("metadata", "annotations", RenderedAnnotation).str() == "" {
		return nil // not stamped: not an app's routing object
	}
	obj, _ := r.get().value().(map[string]any)
	if meta, ok := obj["metadata"].(map[string]any); ok {
		if anns, ok := meta["annotations"].(map[string]any); ok {
			delete(anns, RenderedAnnotation)
			if len(anns) == 0 {
				delete(meta, "annotations")
			}
		}
	}
	hash, err := contentHash(obj)
	if err != nil {
		return fmt.Errorf("hash %s: %w", r, err)
	}
	s.set(r, path{"metadata", "annotations", RenderedAnnotation}, hash)
	e.record(r.Kind, r.Name, r.Namespace, hash)
	return nil
}

// contentHash is "sha256-" and the first 16 hex digits of the SHA-256 of
// obj written canonically (JSON-like: map keys sorted, strings quoted, int
// and int64 alike), straight into the hash: the plain form generate builds
// and the tree a filter edited hash alike when they hold the same object.
// The prefix keeps the value a plain YAML string (emitPlain prints it; a
// value starting with a digit would send the whole object to yaml.v3).
func contentHash(obj map[string]any) (string, error) {
	h := sha256.New()
	var buf []byte
	var write func(v any) error
	write = func(v any) error {
		switch v := v.(type) {
		case map[string]any:
			buf = append(buf[:0], '{')
			for i, k := range sortedKeys(v) {
				if i > 0 {
					buf = append(buf, ',')
				}
				buf = append(strconv.AppendQuote(buf, k), ':')
				h.Write(buf)
				buf = buf[:0]
				if err := write(v[k]); err != nil {
					return err
				}
			}
			buf = append(buf, '}')
		case []any:
			buf = append(buf[:0], '[')
			for i, e := range v {
				if i > 0 {
					buf = append(buf, ',')
				}
				h.Write(buf)
				buf = buf[:0]
				if err := write(e); err != nil {
					return err
				}
			}
			buf = append(buf, ']')
		case string:
			buf = strconv.AppendQuote(buf[:0], v)
		case int:
			buf = strconv.AppendInt(buf[:0], int64(v), 10)
		case int64:
			buf = strconv.AppendInt(buf[:0], v, 10)
		case float64:
			buf = strconv.AppendFloat(buf[:0], v, 'g', -1, 64)
		case bool:
			buf = strconv.AppendBool(buf[:0], v)
		case nil:
			buf = append(buf[:0], "null"...)
		default:
			return fmt.Errorf("encode a %T for the hash: not a value of a Kubernetes object", v)
		}
		h.Write(buf)
		buf = buf[:0]
		return nil
	}
	if err := write(obj); err != nil {
		return "", err
	}
	var sum [sha256.Size]byte
	return "sha256-" + hex.EncodeToString(h.Sum(sum[:0])[:8]), nil
}

// record notes a stamped routing object for the state ConfigMap when it
// lives in the ConfigMap's namespace (its own, or none: the release's).
func (e *env) record(kind, name, namespace, hash string) {
	if namespace != "" && namespace != e.am.Metadata.Namespace {
		return
	}
	if e.rendered == nil {
		e.rendered = map[string]string{}
	}
	e.rendered[kind+"/"+name] = hash
}

// state appends a ConfigMap "meshbundle-<app>" holding the applied
// (defaulted) AppMesh, so tools and Argo CD can read back what was
// rendered, and listing the app's routing objects of this render
// (RoutingAnnotation). Without an AppMesh name (no config file) there is
// no app to record and no ConfigMap.
type state struct{ *env }

func newState(e *env) *state { return &state{e} }

func (f *state) Filter(s *stream) error {
	if f.am.Metadata.Name == "" {
		return nil
	}
	data, err := stateYAML(f.am)
	if err != nil {
		return fmt.Errorf("encode AppMesh for the state ConfigMap: %w", err)
	}
	cm := &configMap{
		apiObject: newAPIObject("v1", "ConfigMap", StateConfigMapName(f.am.Metadata.Name), f.am.Metadata.Namespace),
		Data:      map[string]string{StateKey: string(data)},
	}
	var list []string
	for _, k := range slices.Sorted(maps.Keys(f.rendered)) {
		list = append(list, k+"="+f.rendered[k])
	}
	cm.SetAnnotations(map[string]string{RoutingAnnotation: strings.Join(list, ",")})
	r, err := f.generate(cm, firstFilename(s.docs))
	if err != nil {
		return err
	}
	s.add(r)
	return nil
}

// stateYAML prints the AppMesh as appmesh.Marshal does (sigs.k8s.io/yaml:
// JSON, read back and printed by yaml.v2), which took a sixteenth of the
// renderer's CPU at 5 000 pairs with 500 routes and 500 aliases: the same
// JSON, read back by encoding/json and printed by emitPlain when it prints
// every value (plain strings, integers, booleans, non-empty collections,
// keys in an order no YAML library sorts otherwise: what yaml.v2 prints
// plain, in the same layout), else by appmesh.Marshal.
// FuzzStateYAML checks the two agree.
func stateYAML(am *appmesh.AppMesh) ([]byte, error) {
	if m, err := plain(am); err == nil {
		if out, ok := emitPlain(nil, m); ok {
			return out, nil
		}
	}
	return appmesh.Marshal(am)
}
