//lint:file-ignore SA1019 Classic (v1) dashboard JSON on purpose: Grafana's /api/dashboards/db, the sidecar, grafana-operator and grafana-tools/sdk all take it; v2 needs Grafana 12 with a feature flag.

package dashboards

import (
	"fmt"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

// breakdown is the seven-panel block the service and workload dashboards
// repeat four times: requests, success rate, latency, sizes and TCP bytes of
// one traffic direction, split by peer and by mTLS.
type breakdown struct {
	base     []string // matchers selecting the traffic (service or workload, reporter, peer filters)
	labels   []string // peer labels each series is split by
	legend   string   // legend naming the peer, e.g. "{{source_workload}}.{{source_workload_namespace}}"
	secure   string   // matcher for mTLS traffic
	insecure string   // matcher for plaintext traffic
	titles   [7]string
}

func (b breakdown) panels() []cog.Builder[dashboard.Panel] {
	split := func(build func(m []string) string, legend string) []query {
		return []query{
			q(build(with(b.base, b.secure)), legend+" (mTLS)"),
			q(build(with(b.base, b.insecure)), legend),
		}
	}
	perPercentile := func(metric string) []query {
		var out []query
		for _, p := range percentiles {
			out = append(out, split(func(m []string) string { return quantile(p.q, b.labels, metric, m...) }, b.legend+" "+p.name)...)
		}
		return out
	}
	roundRate := func(labels []string, metric string) func([]string) string {
		return func(m []string) string { return fmt.Sprintf("round(%s, 0.001)", rated(labels, metric, m...)) }
	}
	return []cog.Builder[dashboard.Panel]{
		timeseriesPanel(b.titles[0], "reqps", halfWidth,
			split(roundRate(append(append([]string(nil), b.labels...), "response_code"), requests), b.legend+" : {{response_code}}")...),
		timeseriesPanel(b.titles[1], "percentunit", halfWidth,
			split(func(m []string) string { return successRate(b.labels, m...) }, b.legend)...),
		timeseriesPanel(b.titles[2], "ms", thirdWidth, perPercentile(duration)...),
		timeseriesPanel(b.titles[3], "decbytes", thirdWidth, perPercentile(requestSize)...),
		timeseriesPanel(b.titles[4], "decbytes", thirdWidth, perPercentile(responseSize)...),
		timeseriesPanel(b.titles[5], "Bps", halfWidth, split(roundRate(b.labels, tcpReceived), b.legend)...),
		timeseriesPanel(b.titles[6], "Bps", halfWidth, split(roundRate(b.labels, tcpSent), b.legend)...),
	}
}

// addBreakdown appends a row with a header text and the block's panels.
func addBreakdown(d *dashboard.DashboardBuilder, title, header string, b breakdown) *dashboard.DashboardBuilder {
	d = d.WithRow(row(title)).WithPanel(textPanel(header, fullWidth))
	for _, p := range b.panels() {
		d = d.WithPanel(p)
	}
	return d
}

// requestVolume is the request rate of one selection of traffic, rounded
// as the grafana.com stat panels show it.
func requestVolume(m ...string) string {
	return "round(" + rated(nil, requests, m...) + ", 0.001)"
}

// latency is P50, P90 and P99 of one selection of traffic.
func latency(m ...string) []query {
	var out []query
	for _, p := range []struct{ q, name string }{percentiles[0], percentiles[1], percentiles[3]} {
		out = append(out, q(quantile(p.q, nil, duration, m...), p.name))
	}
	return out
}
