package installer

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/release"
)

// RenderDigestLabel is the Helm release label (kept on the release record,
// a label of its Secret) in which install and upgrade record renderDigest
// of what they rendered the revision from. A re-run whose plan has the same
// digest, and whose deployed record holds the same chart and values, knows
// the render would equal the deployed manifest without rendering: it only
// checks that the revision's objects still exist (see converge).
const RenderDigestLabel = "meshbundle.dev/render-digest"

// renderDigest hashes everything a render of the release depends on: the
// chart as Helm stores it in the release record (metadata, templates,
// default values, files), the values, the release's name and namespace, the
// Kubernetes version, and what the templates ask of the API versions the
// cluster serves (capabilityReads). JSON, as Helm encodes the record, so
// the chart and values read back from a record hash like the ones it was
// written from. No chart meshbundle installs calls lookup (which would make
// the render depend on the cluster's objects): TestChartsReadNoObjects.
func renderDigest(ch *chart.Chart, values map[string]any, name, namespace string, kv *chartutil.KubeVersion, apis chartutil.VersionSet) (string, error) {
	h := sha256.New()
	enc := json.NewEncoder(h)
	if values == nil {
		values = map[string]any{} // Helm records none as no config at all
	}
	asked, all := capabilityReads(ch)
	answers := make([]string, 0, len(asked))
	for _, q := range asked {
		answers = append(answers, fmt.Sprintf("%s=%t", q, apis.Has(q)))
	}
	if all {
		answers = append(answers, apis...)
	}
	for _, v := range []any{ch, values, name, namespace, kv.Version, answers} {
		if err := enc.Encode(v); err != nil {
			return "", fmt.Errorf("digest of release %s/%s: %w", namespace, name, err)
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:40], nil
}

var (
	capabilityRead = regexp.MustCompile(`\.Capabilities\.APIVersions\b(\.Has\s+"([^"]*)")?`)
)

// capabilityReads lists the group versions (or resources) the chart's
// templates test with .Capabilities.APIVersions.Has "<literal>", sorted;
// all is set when they read the API versions any other way, and then the
// whole set the cluster serves counts.
func capabilityReads(ch *chart.Chart) (asked []string, all bool) {
	for _, f := range ch.Templates {
		if !bytes.Contains(f.Data, []byte(".Capabilities.APIVersions")) {
			continue
		}
		for _, m := range capabilityRead.FindAllSubmatch(f.Data, -1) {
			if len(m[1]) == 0 {
				all = true
				continue
			}
			asked = append(asked, string(m[2]))
		}
	}
	slices.Sort(asked)
	return slices.Compact(asked), all
}

// sameRender says whether rendering the plan now (digest want, for
// Kubernetes version kv and API versions apis) would give last's manifest,
// without rendering: last carries the digest of the plan (chart, values,
// Kubernetes version unchanged) and was itself rendered from that chart and
// those values. The second half matters: Helm copies a release's labels to
// its next revision, so an upgrade by another hand (helm upgrade --set ...)
// keeps the label but not the inputs.
func sameRender(last *release.Release, want string, kv *chartutil.KubeVersion, apis chartutil.VersionSet) (bool, error) {
	if want == "" || last.Labels[RenderDigestLabel] != want || last.Chart == nil {
		return false, nil
	}
	got, err := renderDigest(last.Chart, last.Config, last.Name, last.Namespace, kv, apis)
	if err != nil {
		return false, err
	}
	return got == want, nil
}
