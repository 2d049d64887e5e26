package dashboards

import (
	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/variants"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/heatmap"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/table"
	"github.com/grafana/grafana-foundation-sdk/go/text"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// datasource is the dashboard variable every panel queries through, so one
// import works against whatever the Prometheus data source is called.
var datasource = common.DataSourceRef{Type: cog.ToPtr("prometheus"), Uid: cog.ToPtr("${datasource}")}

// query is one PromQL target of a panel.
type query struct {
	expr   string // PromQL, with Grafana variables ($service, $__rate_interval, ...)
	legend string // legend format, {{label}} placeholders
}

func q(expr, legend string) query { return query{expr: expr, legend: legend} }

func targets(qs []query, instant bool) []cog.Builder[variants.Dataquery] {
	out := make([]cog.Builder[variants.Dataquery], 0, len(qs))
	for i, x := range qs {
		b := prometheus.NewDataqueryBuilder().
			Expr(x.expr).
			LegendFormat(x.legend).
			RefId(string(rune('A' + i))).
			Datasource(datasource)
		if instant {
			b = b.Instant().Format(prometheus.PromQueryFormatTable)
		} else {
			b = b.Range()
		}
		out = append(out, b)
	}
	return out
}

// panel sizes on Grafana's 24-column grid.
const (
	fullWidth  = 24
	halfWidth  = 12
	thirdWidth = 8
	smallStat  = 6
	panelH     = 8
	statH      = 4
)

func timeseriesPanel(title, unit string, w uint32, qs ...query) cog.Builder[dashboard.Panel] {
	return timeseries.NewPanelBuilder().
		Title(title).Unit(unit).Span(w).Height(panelH).
		Datasource(datasource).
		Targets(targets(qs, false))
}

func statPanel(title, unit string, w uint32, qs ...query) cog.Builder[dashboard.Panel] {
	return stat.NewPanelBuilder().
		Title(title).Unit(unit).Span(w).Height(statH).
		Datasource(datasource).
		GraphMode(common.BigValueGraphModeArea).
		ReduceOptions(common.NewReduceDataOptionsBuilder().Calcs([]string{"lastNotNull"})).
		Targets(targets(qs, false))
}

// tablePanel shows instant queries side by side, merged on their labels.
func tablePanel(title string, qs ...query) cog.Builder[dashboard.Panel] {
	return table.NewPanelBuilder().
		Title(title).Span(fullWidth).Height(panelH).
		Datasource(datasource).
		WithTransformation(dashboard.DataTransformerConfig{Id: "merge", Options: map[string]any{}}).
		Targets(targets(qs, true))
}

// heatmapPanel draws a Prometheus histogram's buckets over time.
func heatmapPanel(title, unit string, w uint32, qs ...query) cog.Builder[dashboard.Panel] {
	return heatmap.NewPanelBuilder().
		Title(title).Unit(unit).Span(w).Height(panelH).
		Datasource(datasource).
		Calculate(false).
		Targets(targets(qs, false))
}

func textPanel(content string, w uint32) cog.Builder[dashboard.Panel] {
	return text.NewPanelBuilder().
		Title("").Span(w).Height(3).
		Mode(text.TextModeMarkdown).
		Content(content)
}

func row(title string) *dashboard.RowBuilder { return dashboard.NewRowBuilder(title) }
