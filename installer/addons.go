package installer

import (
	"strings"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"helm.sh/helm/v3/pkg/strvals"

	"github.com/meshbundle/meshbundle/failure"
)

// addonsSetPrefix routes --set overrides to the meshbundle-addons chart, as
// gateway.* goes to the gateway chart: --set addons.kialiProxy.enabled=true.
// IstioOperator has no top-level "addons" field, so the prefix is unambiguous.
const addonsSetPrefix = "addons."

// cutAddonsSets takes the addons.* overrides out of sets.
func cutAddonsSets(sets []string) (rest, addons []string) {
	for _, s := range sets {
		if v, ok := strings.CutPrefix(s, addonsSetPrefix); ok {
			addons = append(addons, v)
			continue
		}
		rest = append(rest, s)
	}
	return rest, addons
}

// addonsValues parses the addons.* overrides (Helm --set syntax) and, when
// there are any, renders the chart client-side once, so a value the chart
// refuses (e.g. kialiProxy.enabled without kialiProxy.hosts) is bad input
// before any release is touched, not a failed addons phase after istiod.
func addonsValues(ch *chart.Chart, sets []string, namespace string) (map[string]any, error) {
	vals := map[string]any{}
	for _, s := range sets {
		if err := strvals.ParseInto(s, vals); err != nil {
			return nil, failure.BadInputf("--set %s%s: %w (fix: use %s<key>=<value> with keys of charts/meshbundle-addons/values.yaml)", addonsSetPrefix, s, err, addonsSetPrefix)
		}
	}
	if len(sets) == 0 {
		return vals, nil
	}
	rv, err := chartutil.ToRenderValues(ch, vals, chartutil.ReleaseOptions{Name: ReleaseAddons, Namespace: namespace, IsInstall: true}, nil)
	if err != nil {
		return nil, failure.BadInputf("addons values (--set %s*): %w (fix: correct the --set %s* named; charts/meshbundle-addons/values.yaml lists the keys)", addonsSetPrefix, err, addonsSetPrefix)
	}
	if _, err := engine.Render(ch, rv); err != nil {
		return nil, failure.BadInputf("addons values (--set %s*): %w (fix: correct the --set %s* named; charts/meshbundle-addons/values.yaml lists the keys)", addonsSetPrefix, err, addonsSetPrefix)
	}
	return vals, nil
}
