package main

import (
	"strings"
	"testing"
	"time"

	"github.com/meshbundle/meshbundle/appmesh"
)

// The AppMesh the benchmark renders with must be one users could write:
// strict decoding and validation accept it at every size.
func TestAppMeshForIsValid(t *testing.T) {
	for _, n := range []int{1, 10, 25} {
		doc, routes, aliases := appMeshFor(n)
		am, err := appmesh.Decode([]byte(doc))
		if err != nil {
			t.Fatalf("%d pairs: %v\n%s", n, err, doc)
		}
		if len(am.Spec.Routes) != routes || len(am.Spec.Aliases) != aliases || am.Spec.Canary == nil {
			t.Errorf("%d pairs: %d routes, %d aliases, canary %v; reported %d, %d", n, len(am.Spec.Routes), len(am.Spec.Aliases), am.Spec.Canary, routes, aliases)
		}
	}
}

func TestSummarizeTakesMedians(t *testing.T) {
	ms := time.Millisecond
	got := summarize([]sample{
		{wall: 5 * ms, user: 3 * ms, sys: 1 * ms, maxRSS: 10},
		{wall: 1 * ms, user: 1 * ms, sys: 1 * ms, maxRSS: 30},
		{wall: 9 * ms, user: 8 * ms, sys: 2 * ms, maxRSS: 20},
	})
	if got.n != 3 || got.wall != 5*ms || got.user != 3*ms || got.cpu != 4*ms || got.maxRSS != 20 || got.minCPU != 2*ms || got.maxCPU != 10*ms {
		t.Errorf("summarize = %+v", got)
	}
}

// inspect is what proves each tool did its edits; check it counts right.
func TestInspectCountsEdits(t *testing.T) {
	out := `apiVersion: v1
kind: Service
metadata: {name: svc-0000}
spec:
  ports: [{name: http-web, port: 80}]
---
apiVersion: v1
kind: Service
metadata: {name: svc-0001}
spec:
  ports: [{name: web, port: 80}]
---
apiVersion: v1
kind: Service
metadata: {name: alias-svc-0000}
spec:
  type: ExternalName
  ports: [{name: http-web, port: 80}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: svc-0000}
spec:
  template:
    metadata:
      labels: {sidecar.istio.io/inject: "true"}
      annotations: {sidecar.istio.io/inject: "true"}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: svc-0001}
spec:
  template:
    metadata:
      annotations: {sidecar.istio.io/inject: "true"}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: svc-0000-v2}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: svc-0000}
`
	got, err := inspect([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	want := outputFacts{docs: 7, injected: 1, renamed: 1, badLeft: 1, virtualServices: 1, canary: true}
	if got != want {
		t.Errorf("inspect = %+v, want %+v", got, want)
	}
}

func TestKustomizationPatchesEachBadService(t *testing.T) {
	k := kustomizationFor(9) // bad ports at 0, 4, 8
	if got := strings.Count(k, "value: http-web"); got != 3 {
		t.Errorf("%d port patches, want 3:\n%s", got, k)
	}
}
