package renderer

import (
	"bytes"
	"fmt"
	"io"
	"testing"

	"github.com/meshbundle/meshbundle/appmesh"
)

// BenchmarkRender renders n Deployment+Service pairs (the shape of the
// performance budget in DESIGN §7) with injection and port fixing.
func BenchmarkRender(b *testing.B) {
	for _, n := range []int{100, 500} {
		var in bytes.Buffer
		for i := range n {
			fmt.Fprintf(&in, "---\n# Source: app/templates/svc%d.yaml\napiVersion: v1\nkind: Service\nmetadata:\n  name: svc%d\n  labels:\n    app: svc%d\nspec:\n  selector:\n    app: svc%d\n  ports:\n  - name: web\n    port: 80\n    targetPort: 8080\n", i, i, i, i)
			fmt.Fprintf(&in, "---\n# Source: app/templates/dep%d.yaml\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: svc%d\nspec:\n  replicas: 1\n  selector:\n    matchLabels:\n      app: svc%d\n  template:\n    metadata:\n      labels:\n        app: svc%d\n    spec:\n      containers:\n      - name: app\n        image: example/app:1.0\n        ports:\n        - containerPort: 8080\n          name: http\n        resources:\n          requests:\n            cpu: 10m\n            memory: 16Mi\n", i, i, i, i)
		}
		data := in.Bytes()
		am := fixModeAppMesh(b)
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if err := New(am, nil).Render(bytes.NewReader(data), io.Discard); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func fixModeAppMesh(tb testing.TB) *appmesh.AppMesh {
	am, err := appmesh.Decode([]byte("apiVersion: meshbundle.dev/v1alpha1\nkind: AppMesh\nmetadata: {name: bench, namespace: shop}\nspec:\n  ports: {mode: fix}\n"))
	if err != nil {
		tb.Fatal(err)
	}
	return am
}
