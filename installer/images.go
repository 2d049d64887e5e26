package installer

import (
	istioversion "istio.io/istio/pkg/version"
)

// The one place meshbundle pins Istio's images. PinnedTag is the Istio release
// of the istio.io/istio module in go.mod: the module is a commit on the
// release-1.31 branch (its VERSION file says 1.31; its newest compatibility
// profile is 1.30), so the images are those of Istio 1.31.0.
// TestPinnedTagMatchesModule checks the minor version against the module.
const (
	PinnedHub = "docker.io/istio"
	PinnedTag = "1.31.0"
)

// Istio's renderer only overlays hub/tag when the binary was stamped with
// them (istioctl's release build sets pkg/version.DockerInfo with -ldflags);
// used as a library it falls back to the profiles' registry.istio.io/testing
// :latest. Stamping DockerInfo here gives meshbundle exactly a released
// istioctl's precedence: profile < pinned hub/tag < -f files < --set.
func init() {
	if istioversion.DockerInfo.Hub == "unknown" || istioversion.DockerInfo.Hub == "" {
		istioversion.DockerInfo.Hub = PinnedHub
	}
	if istioversion.DockerInfo.Tag == "unknown" || istioversion.DockerInfo.Tag == "" {
		istioversion.DockerInfo.Tag = PinnedTag
	}
}
