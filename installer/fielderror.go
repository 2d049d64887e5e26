package installer

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"
	meshconfig "istio.io/api/mesh/v1alpha1"
	operatorapis "istio.io/istio/operator/pkg/apis"
	istiovalues "istio.io/istio/operator/pkg/values"

	"github.com/meshbundle/meshbundle/failure"
)

// badField finds the IstioOperator field Istio's validation refused when
// its error does not say (meshConfig and values are converted to protos
// whole: `--set meshConfig.defaultConfig.tracing.sampling=abc` gives only
// "invalid character 'a' looking for beginning of value"). It converts the
// user's meshConfig and values one field at a time, descending into
// messages, and returns the first leaf that does not convert, as
// "spec.meshConfig.defaultConfig.tracing.sampling", with its value and the
// converter's complaint. ok is false when every field converts (the error
// was about something else).
func badField(iop istiovalues.Map) (path string, value any, cause error, ok bool) {
	roots := []struct {
		key string
		msg proto.Message
	}{
		{"meshConfig", &meshconfig.MeshConfig{}},
		{"values", &operatorapis.Values{}},
	}
	spec, _ := iop["spec"].(map[string]any)
	for _, r := range roots {
		tree, isMap := spec[r.key].(map[string]any)
		if !isMap {
			continue
		}
		if p, v, err, found := firstBadLeaf(tree, r.msg.ProtoReflect().Descriptor(), "spec."+r.key); found {
			return p, v, err, true
		}
	}
	return "", nil, nil, false
}

// firstBadLeaf walks tree (JSON-shaped, meant for a message of type md) in
// key order and returns the first field that protojson refuses on its own.
func firstBadLeaf(tree map[string]any, md protoreflect.MessageDescriptor, prefix string) (string, any, error, bool) {
	keys := make([]string, 0, len(tree))
	for k := range tree {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := tree[k]
		path := prefix + "." + k
		fd := md.Fields().ByJSONName(k)
		if fd == nil {
			fd = md.Fields().ByName(protoreflect.Name(k))
		}
		if fd == nil {
			// Unknown fields: Istio's own error names them.
			continue
		}
		// A nested message: name the deepest field that is wrong.
		if sub, isMap := v.(map[string]any); isMap && fd.Kind() == protoreflect.MessageKind &&
			!fd.IsList() && !fd.IsMap() && !wellKnown(fd.Message()) {
			if p, bv, err, found := firstBadLeaf(sub, fd.Message(), path); found {
				return p, bv, err, true
			}
		}
		if err := convert(map[string]any{k: v}, md); err != nil {
			return path, v, err, true
		}
	}
	return "", nil, nil, false
}

// wellKnown messages (Duration, wrappers, Struct, ...) have a JSON form of
// their own, not one field per key: they are checked as one leaf.
func wellKnown(md protoreflect.MessageDescriptor) bool {
	return strings.HasPrefix(string(md.FullName()), "google.protobuf.")
}

func convert(tree map[string]any, md protoreflect.MessageDescriptor) error {
	b, err := json.Marshal(tree)
	if err != nil {
		return err
	}
	return protojson.UnmarshalOptions{DiscardUnknown: true}.Unmarshal(b, dynamicpb.NewMessage(md))
}

// fieldError rewrites a validation error to name the field, its value and
// the --set that gave it, when badField finds one.
func fieldError(iop istiovalues.Map, sets []string, err error) error {
	path, value, cause, ok := badField(iop)
	if !ok {
		return failure.BadInputf("invalid IstioOperator: %w (fix: correct the field named above in your -f file or --set)", err)
	}
	from := "your -f file"
	field := strings.TrimPrefix(path, "spec.")
	for _, s := range sets {
		if k, _, _ := strings.Cut(s, "="); strings.TrimPrefix(k, "spec.") == field {
			from = "--set " + s
		}
	}
	// protojson's messages start with where in our one-field document it
	// stopped, which means nothing to the user.
	msg := cause.Error()
	if rest, ok := strings.CutPrefix(msg, "proto: "); ok {
		if _, after, found := strings.Cut(rest, "): "); found && strings.HasPrefix(rest, "(line ") {
			msg = after
		}
	}
	return failure.BadInputf("invalid IstioOperator %s: value %s (from %s): %s (fix: correct that field)", path, jsonValue(value), from, msg)
}

func jsonValue(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}
