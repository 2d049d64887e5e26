package renderer

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/meshbundle/meshbundle/appmesh"
)

// benchChart renders n Deployment+Service pairs (the shape of the
// performance budget in DESIGN §7), every Service port named "web" so that
// fix mode renames it.
func benchChart(n int) []byte {
	var in bytes.Buffer
	for i := range n {
		fmt.Fprintf(&in, "---\n# Source: app/templates/svc%d.yaml\napiVersion: v1\nkind: Service\nmetadata:\n  name: svc%d\n  labels:\n    app: svc%d\nspec:\n  selector:\n    app: svc%d\n  ports:\n  - name: web\n    port: 80\n    targetPort: 8080\n", i, i, i, i)
		fmt.Fprintf(&in, "---\n# Source: app/templates/dep%d.yaml\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: svc%d\nspec:\n  replicas: 1\n  selector:\n    matchLabels:\n      app: svc%d\n  template:\n    metadata:\n      labels:\n        app: svc%d\n    spec:\n      containers:\n      - name: app\n        image: example/app:1.0\n        ports:\n        - containerPort: 8080\n          name: http\n        resources:\n          requests:\n            cpu: 10m\n            memory: 16Mi\n", i, i, i, i)
	}
	return in.Bytes()
}

// BenchmarkRender runs injection and port fixing.
func BenchmarkRender(b *testing.B) {
	for _, n := range []int{100, 500} {
		benchRender(b, n, fixModeAppMesh(b))
	}
}

// benchRender runs Render on the n-pair chart as sub-benchmark "n".
func benchRender(b *testing.B, n int, am *appmesh.AppMesh) {
	data := benchChart(n)
	b.Run(fmt.Sprint(n), func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			if err := New(am, nil).Render(bytes.NewReader(data), io.Discard); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkRenderAllFilters adds what make bench turns on: a route through
// a gateway and an alias for every tenth Service, and a canary.
func BenchmarkRenderAllFilters(b *testing.B) {
	const n = 500
	var am strings.Builder
	am.WriteString("apiVersion: meshbundle.dev/v1alpha1\nkind: AppMesh\nmetadata: {name: bench, namespace: shop}\nspec:\n  ports: {mode: fix}\n  routes:\n")
	for i := 0; i < n; i += 10 {
		fmt.Fprintf(&am, "  - {service: svc%d, gateway: istio-ingress/public, hosts: [svc%d.shop.example.com]}\n", i, i)
	}
	am.WriteString("  aliases:\n")
	for i := 0; i < n; i += 10 {
		fmt.Fprintf(&am, "  - {name: alias-svc%d, service: svc%d}\n", i, i)
	}
	am.WriteString("  canary: {target: svc0, version: v2, image: example/app:2.0, weight: 10, phase: Progressing}\n")
	cfg, err := appmesh.Decode([]byte(am.String()))
	if err != nil {
		b.Fatal(err)
	}
	benchRender(b, n, cfg)
}

// BenchmarkParseFloor is parsing each document of the same chart into a
// node tree and nothing else, by yaml.v3 and (sub-benchmark "scanner") by
// the scanner Render uses: the floor under Render's cost, since every
// Service and workload must be parsed to be edited.
func BenchmarkParseFloor(b *testing.B) {
	const n = 500
	data := benchChart(n)
	docs := bytes.Split(data, []byte("---\n"))
	b.Run(fmt.Sprint(n), func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			for _, d := range docs {
				var doc yaml.Node
				if err := yaml.Unmarshal(d, &doc); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	// The scanner on the same documents (every one of them in its dialect).
	b.Run(fmt.Sprint(n, "/scanner"), func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			for _, d := range docs {
				if _, ok := scanDocument(d); !ok && len(d) > 0 {
					b.Fatalf("not scanned:\n%s", d)
				}
			}
		}
	})
}

// BenchmarkRenderYAMLOnly is BenchmarkRenderAllFilters with every document
// parsed by yaml.v3 (the scanner off): the ratio of the two, taken in one
// run, is what the scanner saves.
func BenchmarkRenderYAMLOnly(b *testing.B) {
	yamlOnly = true
	defer func() { yamlOnly = false }()
	BenchmarkRenderAllFilters(b)
}

func fixModeAppMesh(tb testing.TB) *appmesh.AppMesh {
	am, err := appmesh.Decode([]byte("apiVersion: meshbundle.dev/v1alpha1\nkind: AppMesh\nmetadata: {name: bench, namespace: shop}\nspec:\n  ports: {mode: fix}\n"))
	if err != nil {
		tb.Fatal(err)
	}
	return am
}

// wideDocument is one document with n entries in one mapping or sequence:
// a ConfigMap of n keys, a Service with n annotations, or a Deployment
// whose container has n env entries (issue 20: each must cost O(bytes)).
func wideDocument(kind string, n int) []byte {
	var b bytes.Buffer
	switch kind {
	case "configmap":
		b.WriteString("# Source: app/templates/cm.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: wide\ndata:\n")
		for i := range n {
			fmt.Fprintf(&b, "  key-%d: value-%d\n", i, i)
		}
	case "service":
		b.WriteString("# Source: app/templates/svc.yaml\napiVersion: v1\nkind: Service\nmetadata:\n  name: wide\n  annotations:\n")
		for i := range n {
			fmt.Fprintf(&b, "    example.dev/note-%d: \"value %d\"\n", i, i)
		}
		b.WriteString("spec:\n  selector:\n    app: wide\n  ports:\n  - name: web\n    port: 80\n")
	case "deployment":
		b.WriteString("# Source: app/templates/dep.yaml\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: wide\nspec:\n  selector:\n    matchLabels:\n      app: wide\n  template:\n    metadata:\n      labels:\n        app: wide\n    spec:\n      containers:\n      - name: app\n        image: example/app:1\n        env:\n")
		for i := range n {
			fmt.Fprintf(&b, "        - name: VAR_%d\n          value: \"%d\"\n", i, i)
		}
	}
	return b.Bytes()
}

// BenchmarkWide renders one wide document of each kind at growing sizes;
// ns/op divided by the size must stay flat (linear), and MB/s is
// comparable with BenchmarkRender's.
func BenchmarkWide(b *testing.B) {
	am := fixModeAppMesh(b)
	for _, kind := range []string{"configmap", "service", "deployment"} {
		for _, n := range []int{1000, 10000} {
			data := wideDocument(kind, n)
			b.Run(fmt.Sprintf("%s/%d", kind, n), func(b *testing.B) {
				b.SetBytes(int64(len(data)))
				for b.Loop() {
					if err := New(am, nil).Render(bytes.NewReader(data), io.Discard); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
