// Package values embeds the IstioOperator files meshbundle installs from, so
// the binary works without the repository: default.yaml always, a profile
// overlay (minimal.yaml, ha.yaml, ambient.yaml) on request, gateway.yaml for
// the gateway chart.
package values

import "embed"

// FS holds default.yaml, the profile overlays and gateway.yaml.
//
//go:embed *.yaml
var FS embed.FS

// Profiles are the overlays selectable with --profile; "default" adds nothing.
var Profiles = []string{"default", "minimal", "ha", "ambient"}
