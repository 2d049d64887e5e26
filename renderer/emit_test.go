package renderer

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"go.yaml.in/yaml/v3"
)

// FuzzEmitter checks the emitter against yaml.v3 on every value it
// accepts: the same bytes as encodeValue, so the output cannot tell which
// one printed a generated object. The input is a YAML document decoded
// into plain Go values as generate has them (integers as int64); the seeds
// are every document of the golden outputs (the generated objects among
// them) plus values at the edges of what the emitter prints.
func FuzzEmitter(f *testing.F) {
	outputs, _ := filepath.Glob(filepath.Join("testdata", "*", "*.golden.yaml"))
	if len(outputs) == 0 {
		f.Fatal("no golden outputs")
	}
	for _, out := range outputs {
		data, err := os.ReadFile(out)
		if err != nil {
			f.Fatal(err)
		}
		for _, d := range bytes.Split(data, []byte("\n---")) {
			f.Add(bytes.TrimPrefix(d, []byte("---")))
		}
	}
	for _, d := range []string{
		"a: b\n",
		"a: {b: true, c: 1, d: -2, e: x.y/z-w_v}\n",
		"a: [b, {c: d, e: [f, g]}, [h]]\n",
		"a: {}\nb: []\nc: null\nd: 1.5\ne: \"\"\n",
		"a10: 1\na9: 2\na-b: 3\na.b: 4\naB: 5\nab: 6\nA: 7\n",
		"k: [true, 'true', 'yes', 'Yes', 'on', 'N', 'null', 'Null', '~', '80', '0x1F', '1e3', 'a b', 'a:b', 'a#b', 'A1']\n",
		"x:\n- - a\n- b\n",
		"k: ['a:', 'a:b:c', 'a::b', 'http://x.y/z', 'reg.example/app:2.0.0', 'y:es', 'on:', 'a: b']\n",
		"a:b: c\n",
	} {
		f.Add([]byte(d))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var v any
		if yaml.Unmarshal(data, &v) != nil {
			return
		}
		m, ok := int64s(v).(map[string]any)
		if !ok {
			return
		}
		got, ok := emitPlain(nil, m)
		if !ok {
			return
		}
		want, err := encodeValue(m)
		if err != nil {
			t.Fatalf("emitPlain prints what yaml.v3 refuses (%v):\n%s", err, got)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("emitter and yaml.v3 differ on\n%s\nemitter:\n%s\nyaml.v3:\n%s", data, got, want)
		}
	})
}

// TestEmitterPrintsGeneratedObjects: the generated objects of the golden
// outputs take the emitter's path, with yaml.v3's bytes (a negative control
// for FuzzEmitter, which would pass if the emitter refused everything).
func TestEmitterPrintsGeneratedObjects(t *testing.T) {
	outputs, _ := filepath.Glob(filepath.Join("testdata", "*", "*.golden.yaml"))
	printed := 0
	for _, out := range outputs {
		data, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range bytes.Split(data, []byte("\n---")) {
			if !bytes.Contains(d, []byte(appLabel+": ")) {
				continue // not generated
			}
			var v any
			if err := yaml.Unmarshal(bytes.TrimPrefix(d, []byte("---")), &v); err != nil {
				t.Fatal(err)
			}
			m, ok := int64s(v).(map[string]any)
			if !ok {
				continue
			}
			if got, ok := emitPlain(nil, m); ok {
				if want, _ := encodeValue(m); !bytes.Equal(got, want) {
					t.Errorf("%s: emitter prints\n%s\nyaml.v3 prints\n%s", out, got, want)
				}
				printed++
			}
		}
	}
	if printed < 10 {
		t.Errorf("the emitter printed %d generated objects of the golden outputs, want at least 10", printed)
	}
	t.Logf("%d generated objects printed by the emitter", printed)
}

// int64s turns the ints yaml.v3 decodes into int64s, as generate has them.
func int64s(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			v[k] = int64s(e)
		}
	case []any:
		for i, e := range v {
			v[i] = int64s(e)
		}
	case int:
		return int64(v)
	}
	return v
}
