// Package version reports what meshbundle is and which upstream versions it
// embeds, read from the binary's build info so it can never drift from go.mod.
package version

import (
	"runtime/debug"
)

// Version is meshbundle's own version, stamped at build time with
// -ldflags "-X github.com/meshbundle/meshbundle/version.Version=...".
var Version = "dev"

// Modules whose versions meshbundle embeds and reports.
const (
	IstioModule      = "istio.io/istio"
	IstioAPIModule   = "istio.io/api"
	HelmModule       = "helm.sh/helm/v3"
	KubernetesModule = "k8s.io/client-go"
)

// Info is what `meshbundle version` prints.
type Info struct {
	Meshbundle string `json:"meshbundle"`
	Go         string `json:"go"`
	// Istio is the istio.io/istio module version (a pseudo-version on the
	// release line) and IstioAPI the istio.io/api release it is built with.
	Istio    string `json:"istio"`
	IstioAPI string `json:"istioAPI"`
	Helm     string `json:"helm"`
	// Kubernetes is the client library version (v0.X.Y serves Kubernetes v1.X.Y).
	Kubernetes string `json:"kubernetes"`
}

// Get reads the versions from the running binary's build info.
func Get() Info {
	info := Info{Meshbundle: Version}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return info
	}
	info.Go = bi.GoVersion
	for _, dep := range bi.Deps {
		v := dep.Version
		if dep.Replace != nil {
			v = dep.Replace.Version
		}
		switch dep.Path {
		case IstioModule:
			info.Istio = v
		case IstioAPIModule:
			info.IstioAPI = v
		case HelmModule:
			info.Helm = v
		case KubernetesModule:
			info.Kubernetes = v
		}
	}
	return info
}
