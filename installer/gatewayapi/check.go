package gatewayapi

import (
	"fmt"
	"slices"
	"strings"

	"github.com/Masterminds/semver/v3"
	"sigs.k8s.io/gateway-api/pkg/consts"

	"github.com/meshbundle/meshbundle/failure"
)

// Group is the API group of the Gateway API's standard and experimental
// kinds.
const Group = "gateway.networking.k8s.io"

// Present is one Gateway API CRD the cluster has: its name and annotations.
type Present struct {
	Name        string
	Annotations map[string]string
}

// Action is what the installer does with the Gateway API CRDs.
type Action string

const (
	// Install: none are present, or every present one belongs to the
	// release; converge the release (install, upgrade or leave equal).
	Install Action = "install"
	// Keep: someone else installed them (a bundle at or above
	// MinimumBundleVersion); leave them as they are and install none.
	Keep Action = "keep"
)

// Decision is the outcome of Decide.
type Decision struct {
	Action Action
	// Versions are the bundle versions of CRDs present and not the
	// release's (Keep), sorted.
	Versions []string
	// Missing lists the bundle's CRDs a kept foreign bundle lacks.
	Missing []string
}

// tooOld is the refusal for CRDs older than MinimumBundleVersion (or
// without a bundle version): istiod would ignore those kinds, so nothing is
// changed. old names each CRD with its version; channel picks the fix's URL.
func tooOld(old []string, channel string) error {
	names := make([]string, len(old))
	for i, o := range old {
		names[i], _, _ = strings.Cut(o, " ")
	}
	return &failure.BadInputError{
		Object: "the cluster's Gateway API CRDs",
		Err: fmt.Errorf("older than %s, which Istio needs (istiod ignores older kinds): %s; nothing was changed",
			MinimumBundleVersion, strings.Join(old, ", ")),
		Fix: fmt.Sprintf("upgrade them (kubectl apply --server-side -f https://github.com/kubernetes-sigs/gateway-api/releases/download/%s/%s-install.yaml), "+
			"or, if nothing uses them, delete them (kubectl delete crd %s; this deletes their objects) so that meshbundle installs %s; then run again",
			BundleVersion, channel, strings.Join(names, " "), BundleVersion),
	}
}

// Decide says what to do given the Gateway API CRDs the cluster has and the
// release (namespace/name) meshbundle installs them with. CRDs of the
// release are meshbundle's to upgrade whatever their version; any other one
// below MinimumBundleVersion is refused (a failure.BadInputError); other present ones are kept.
// Pre-release versions count as their release (v1.5.0-rc.1 as v1.5.0), as
// istiod's CRD watcher rounds them.
func Decide(present []Present, releaseNamespace, releaseName string) (Decision, error) {
	minimum := semver.MustParse(MinimumBundleVersion)
	var old, versions []string
	channel := "standard"
	foreign := map[string]bool{}
	for _, p := range present {
		a := p.Annotations
		if a["meta.helm.sh/release-name"] == releaseName && a["meta.helm.sh/release-namespace"] == releaseNamespace {
			continue
		}
		foreign[p.Name] = true
		raw, ok := a[consts.BundleVersionAnnotation]
		v, err := semver.NewVersion(raw)
		if err == nil {
			var rounded semver.Version
			if rounded, err = v.SetPrerelease(""); err == nil {
				v = &rounded
			}
		}
		switch {
		case !ok:
			old = append(old, p.Name+" (no "+consts.BundleVersionAnnotation+" annotation)")
		case err != nil:
			old = append(old, fmt.Sprintf("%s (bundle-version %q does not parse)", p.Name, raw))
		case v.LessThan(minimum):
			old = append(old, p.Name+" (bundle-version "+raw+")")
		default:
			if !slices.Contains(versions, raw) {
				versions = append(versions, raw)
			}
			continue
		}
		if c := a[consts.ChannelAnnotation]; c == "experimental" {
			channel = c
		}
	}
	if len(old) > 0 {
		slices.Sort(old)
		return Decision{}, tooOld(old, channel)
	}
	if len(foreign) == 0 {
		return Decision{Action: Install}, nil
	}
	slices.Sort(versions)
	d := Decision{Action: Keep, Versions: versions}
	for _, n := range CRDNames() {
		if !foreign[n] {
			d.Missing = append(d.Missing, n)
		}
	}
	return d, nil
}
