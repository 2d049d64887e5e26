package main

import (
	"os/exec"
	"strings"
	"testing"
)

// heavyPackages must never be linked into the post-renderer: Helm and
// Argo CD exec it on every render, and these cost ~60 ms CPU and ~100 MB in
// package init alone (issue 4). The API packages below them (core/v1,
// Istio's protobuf API and client-go types, the Gateway API types, and
// net/http, which meta/v1 brings) made the binary 15.5 MB, whose mapped
// pages were ~7 MB of its peak RSS (issue 20): the renderer prints its
// generated objects from local structs (renderer/apitypes.go). The
// prefixes cover the packages themselves and everything below them.
var heavyPackages = []string{
	"helm.sh/helm/",
	"istio.io/istio/pilot/",
	"istio.io/istio/operator/",
	"istio.io/istio/pkg/config/analysis",
	"istio.io/istio/pkg/config/validation",
	"istio.io/istio/pkg/kube",
	"istio.io/istio/pkg/config/schema",
	"istio.io/istio/pkg/log",
	"k8s.io/client-go/",
	"sigs.k8s.io/controller-runtime",
	"github.com/prometheus/prometheus/",
	"google.golang.org/grpc",
	"k8s.io/api/",
	"k8s.io/apimachinery/pkg/apis/meta/v1",
	"istio.io/api/networking/",
	"istio.io/client-go/",
	"istio.io/istio/pkg/config/kube",
	"sigs.k8s.io/gateway-api/",
	"google.golang.org/protobuf/",
	"net/http",
	"crypto/tls",
}

func TestNoHeavyDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 50 || !strings.Contains(string(out), "github.com/meshbundle/meshbundle/renderer\n") {
		t.Fatalf("go list -deps returned an implausible list (%d packages)", len(deps))
	}
	for _, d := range deps {
		for _, h := range heavyPackages {
			if strings.HasPrefix(d, h) {
				t.Errorf("meshbundle-postrender links %s (matches %q): keep it out of renderer/ and appmesh/ (use it from tests only)", d, h)
			}
		}
	}
	t.Logf("%d packages linked", len(deps))
}
