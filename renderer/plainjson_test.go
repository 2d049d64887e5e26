package renderer

import (
	"encoding/json"
	"reflect"
	"testing"
)

// FuzzDecodePlain checks decodePlain against json.Unmarshal and integers
// (plain's slow path) on every valid JSON it accepts: the same values.
// The seeds are the JSON of generated objects and values at its edges.
func FuzzDecodePlain(f *testing.F) {
	for _, obj := range decodePlainSeeds() {
		js, err := json.Marshal(obj)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(js)
	}
	for _, s := range []string{
		`{"a":1,"b":-2,"c":1.5,"d":1e3,"e":-0,"f":9007199254740993,"g":12345678901234567890,"h":0.1e1,"i":-0.0}`,
		`{"a":"x\u003cy","b":"\"","c":"é","d":"\u00e9","e":"a\\b"}`,
		`{"a":[],"b":{},"c":null,"d":true,"e":false,"f":[[1],[{}]]}`,
		`{"a":1,"a":2}`, `{ "a": 1 }`, `[1]`, `"x"`, `{"a":01}`, `{"a":1}x`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, ok := decodePlain(data)
		if !ok {
			return
		}
		if !json.Valid(data) {
			t.Fatalf("decodePlain accepts invalid JSON %q", data)
		}
		var want map[string]any
		if err := json.Unmarshal(data, &want); err != nil {
			t.Fatalf("decodePlain accepts %q, json.Unmarshal refuses it: %v", data, err)
		}
		if w := integers(want); !reflect.DeepEqual(got, w) {
			t.Fatalf("decodePlain and json.Unmarshal differ on %q:\n%#v\n%#v", data, got, w)
		}
	})
}

// TestDecodePlainReadsGeneratedObjects: the JSON of the renderer's typed
// objects takes decodePlain's path (a negative control for
// FuzzDecodePlain, which would pass if decodePlain refused everything).
func TestDecodePlainReadsGeneratedObjects(t *testing.T) {
	for _, obj := range decodePlainSeeds() {
		js, err := json.Marshal(obj)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := decodePlain(js); !ok {
			t.Errorf("decodePlain refuses the JSON of %T: %s", obj, js)
		}
	}
}

// decodePlainSeeds are typed objects as the filters generate them.
func decodePlainSeeds() []object {
	cm := &configMap{apiObject: newAPIObject("v1", "ConfigMap", "meshbundle-shop", "shop"), Data: map[string]string{"key": "value"}}
	svc := &service{apiObject: newAPIObject("v1", "Service", "web-v2", "shop"), Spec: serviceSpec{Selector: map[string]string{"app": "web", "version": "v2"}}}
	svc.Metadata.Labels = map[string]string{"app": "web"}
	svc.Metadata.Annotations = map[string]string{postRenderFilenameAnnotation: "templates/web.yaml"}
	return []object{cm, svc}
}
