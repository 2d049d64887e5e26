// Package gatewayapi holds the Kubernetes Gateway API CRDs meshbundle
// installs beside Istio's (standard channel, sigs.k8s.io/gateway-api at the
// version in go.mod) as their own Helm release, and the rule that decides
// what to do with Gateway API CRDs a cluster already has.
//
// crds/ is a generated copy, byte for byte, of the module's
// config/crd/standard CRD files: Go can embed only files of this module, so
// `go generate ./installer/gatewayapi` copies them and TestCRDFilesMatchModule
// (and `make verify`) fails when the copy and the module differ.
package gatewayapi

//go:generate env UPDATE_GOLDEN=1 go test -run TestCRDFilesMatchModule .

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"

	"helm.sh/helm/v3/pkg/chart"
	"sigs.k8s.io/gateway-api/pkg/consts"
)

// crdFS holds the standard channel's CRDs of the pinned module (the
// *.yaml files of crds/; its README says where they come from).
//
//go:embed crds
var crdFS embed.FS

// BundleVersion is the Gateway API release meshbundle installs: the
// sigs.k8s.io/gateway-api module's, which the embedded CRDs carry in their
// bundle-version annotation (TestCRDFilesMatchModule).
const BundleVersion = consts.BundleVersion

// MinimumBundleVersion is the oldest bundle meshbundle accepts in a
// cluster: Istio 1.30 and later need v1.5 (istiod ignores CRDs below its
// minimums, istio.io/istio/pkg/config/schema/gatewayapi).
const MinimumBundleVersion = "v1.5.0"

// Release and chart name of the CRDs' Helm release.
const ChartName = "gateway-api-crds"

// KeepPolicy is Helm's annotation that keeps an object when its release is
// uninstalled; Istio's base chart puts it on Istio's CRDs, and so do we:
// deleting a CRD deletes every tenant's objects of its kind.
const KeepPolicy = "helm.sh/resource-policy"

// files returns the embedded CRD files by name, in name order.
func files() (map[string][]byte, []string, error) {
	entries, err := fs.ReadDir(crdFS, "crds")
	if err != nil {
		return nil, nil, err
	}
	out := map[string][]byte{}
	var names []string
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".yaml") {
			continue
		}
		b, err := crdFS.ReadFile(path.Join("crds", e.Name()))
		if err != nil {
			return nil, nil, err
		}
		out[e.Name()] = b
		names = append(names, e.Name())
	}
	slices.Sort(names)
	return out, names, nil
}

// CRDNames lists the CRDs of the bundle (e.g. httproutes.gateway.networking.k8s.io).
func CRDNames() []string {
	_, names, _ := files()
	out := make([]string, 0, len(names))
	for _, n := range names {
		out = append(out, crdName(n))
	}
	return out
}

// crdName is the CRD a file holds: controller-gen names the files
// <group>_<plural>.yaml.
func crdName(file string) string {
	group, plural, _ := strings.Cut(strings.TrimSuffix(file, ".yaml"), "_")
	return plural + "." + group
}

// Chart is the Helm chart of the release: one template per CRD, each the
// module's file with Helm's keep policy added to its annotations, so that
// uninstalling the release leaves the CRDs (and the objects of every
// tenant) in place, as Istio's base chart does for Istio's CRDs.
func Chart() (*chart.Chart, error) {
	fsFiles, names, err := files()
	if err != nil {
		return nil, err
	}
	ch := &chart.Chart{Metadata: &chart.Metadata{
		APIVersion:  chart.APIVersionV2,
		Name:        ChartName,
		Version:     strings.TrimPrefix(BundleVersion, "v"),
		AppVersion:  BundleVersion,
		Description: "Kubernetes Gateway API CRDs, standard channel, from sigs.k8s.io/gateway-api " + BundleVersion,
		Type:        "application",
	}}
	const meta = "\nmetadata:\n  annotations:\n"
	for _, n := range names {
		s := string(fsFiles[n])
		if strings.Count(s, meta) != 1 {
			return nil, fmt.Errorf("gateway API CRD file %s: no single %q block to add %s to", n, meta, KeepPolicy)
		}
		s = strings.Replace(s, meta, meta+"    "+KeepPolicy+": keep\n", 1)
		ch.Templates = append(ch.Templates, &chart.File{Name: "templates/" + n, Data: []byte(s)})
	}
	return ch, nil
}
