//lint:file-ignore SA1019 Classic (v1) dashboard JSON on purpose: Grafana's /api/dashboards/db, the sidecar, grafana-operator and grafana-tools/sdk all take it; v2 needs Grafana 12 with a feature flag.

// Package dashboards builds the five Istio Grafana dashboards published on
// grafana.com (Mesh 7639, Performance 11829, Service 7636, Workload 7630,
// Control Plane 7645) as code with Grafana's foundation SDK. Titles match
// grafana.com because Kiali links to Grafana dashboards by title; traffic
// panels read the workload recording rules from package rules.
package dashboards

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

// Spec is one dashboard: how to build it and where it lives online.
type Spec struct {
	// File is the generated JSON's file name (dashboards/generated/<File>).
	File string
	// Title is the grafana.com title; Kiali finds dashboards by it.
	Title string
	// GnetID is the grafana.com dashboard ID.
	GnetID int
	// Revision is the grafana.com revision for online import (`gnetId` +
	// `revision` in the Grafana Helm chart's `dashboards:` values).
	Revision int
	build    func() *dashboard.DashboardBuilder
}

// UID follows Istio's own scheme (md5 of its dashboard file name), so links
// written for Istio's bundled dashboards resolve to ours.
func (s Spec) UID() string {
	sum := md5.Sum([]byte(istioFile[s.GnetID]))
	return hex.EncodeToString(sum[:])
}

var istioFile = map[int]string{
	7639:  "istio-mesh.json",
	11829: "istio-performance.json",
	7636:  "istio-service.json",
	7630:  "istio-workload.json",
	7645:  "pilot.json",
}

// All lists the five dashboards in the order of the grafana.com IDs above.
// grafana.com cannot be reached from the build machine, so each revision is
// the newest one seen referenced in public Helm values (known to exist),
// not necessarily the latest published.
func All() []Spec {
	return []Spec{
		{File: "istio-mesh-dashboard.json", Title: "Istio Mesh Dashboard", GnetID: 7639, Revision: 330, build: mesh},
		{File: "istio-performance-dashboard.json", Title: "Istio Performance Dashboard", GnetID: 11829, Revision: 278, build: performance},
		{File: "istio-service-dashboard.json", Title: "Istio Service Dashboard", GnetID: 7636, Revision: 329, build: service},
		{File: "istio-workload-dashboard.json", Title: "Istio Workload Dashboard", GnetID: 7630, Revision: 202, build: workload},
		{File: "istio-control-plane-dashboard.json", Title: "Istio Control Plane Dashboard", GnetID: 7645, Revision: 255, build: controlPlane},
	}
}

// Build returns the dashboard model.
func (s Spec) Build() (dashboard.Dashboard, error) {
	b := s.build().
		Uid(s.UID()).
		Title(s.Title).
		GnetId(fmt.Sprint(s.GnetID)).
		Revision(int64(s.Revision)).
		Tags([]string{"istio", "meshbundle"}).
		Editable().
		Time("now-30m", "now").
		Refresh("30s").
		Tooltip(dashboard.DashboardCursorSyncCrosshair)
	d, err := b.Build()
	if err != nil {
		return dashboard.Dashboard{}, fmt.Errorf("build dashboard %q: %w", s.Title, err)
	}
	// Stable panel IDs: Grafana keys panel links (viewPanel=<id>) and
	// Kiali's embedded panels on them, so they must not change on import.
	for i, p := range d.Panels {
		id := uint32(i + 1)
		switch {
		case p.Panel != nil:
			p.Panel.Id = &id
		case p.RowPanel != nil:
			p.RowPanel.Id = id
		}
	}
	return d, nil
}

// JSON renders the dashboard as Grafana dashboard JSON.
func (s Spec) JSON() ([]byte, error) {
	d, err := s.Build()
	if err != nil {
		return nil, err
	}
	out, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("marshal dashboard %q: %w", s.Title, err)
	}
	return append(out, '\n'), nil
}

// Files renders every dashboard, keyed by file name.
func Files() (map[string][]byte, error) {
	out := map[string][]byte{}
	for _, s := range All() {
		b, err := s.JSON()
		if err != nil {
			return nil, err
		}
		out[s.File] = b
	}
	return out, nil
}

// Variables shared by the dashboards.

func datasourceVar() cog.Builder[dashboard.VariableModel] {
	return dashboard.NewDatasourceVariableBuilder("datasource").Label("Data source").Type("prometheus")
}

// listVar is a query variable listing one label's values of a PromQL
// expression (Grafana's query_result + regex idiom, so it can union metrics).
func listVar(name, label, labelName, expr string, multi bool) cog.Builder[dashboard.VariableModel] {
	b := dashboard.NewQueryVariableBuilder(name).
		Label(label).
		Datasource(datasource).
		Query(dashboard.StringOrMap{String: cog.ToPtr("query_result(" + expr + ")")}).
		Regex(`/.*` + labelName + `="([^"]*).*/`).
		Refresh(dashboard.VariableRefreshOnTimeRangeChanged).
		Sort(dashboard.VariableSortAlphabeticalAsc)
	if multi {
		b = b.Multi(true).IncludeAll(true).AllValue(".*")
	}
	return b
}

// reporterVar selects which proxy's report panels use: the client's
// (source) or the server's (destination); both by default.
func reporterVar() cog.Builder[dashboard.VariableModel] {
	return dashboard.NewCustomVariableBuilder("qrep").
		Label("Reporter").
		Values(dashboard.StringOrMap{String: cog.ToPtr("source,destination")}).
		Multi(true).IncludeAll(true).AllValue("source|destination")
}
