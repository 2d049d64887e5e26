package rules

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/promql/parser"
	"sigs.k8s.io/yaml"

	"github.com/meshbundle/meshbundle/internal/promtool"

	"github.com/meshbundle/meshbundle/internal/golden"
)

// TestGeneratedFiles fails when rules/generated/ is stale; refresh with
// `go generate ./rules` (UPDATE_GOLDEN=1).
func TestGeneratedFiles(t *testing.T) {
	files, err := Files(DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range files {
		golden.Check(t, filepath.Join("generated", name), want, "`go generate ./rules`")
	}
}

func TestRecordingRulesShape(t *testing.T) {
	tests := []struct {
		name   string                     // rule set
		rules  []monitoringv1.Rule        // the rules
		record func(metric string) string // expected record name per metric
		rated  bool                       // the summed expression is rate(metric[RateWindow])
	}{
		{name: "sums", rules: RecordingRules(), record: RecordName},
		{name: "rates", rules: RateRules(), record: RateRecordName, rated: true},
	}
	seen := map[string]bool{}
	for _, tc := range tests {
		byRecord := map[string]bool{}
		for _, r := range tc.rules {
			if seen[r.Record] {
				t.Errorf("duplicate record %s", r.Record)
			}
			seen[r.Record], byRecord[r.Record] = true, true
			expr, err := parser.NewParser(parser.Options{}).ParseExpr(r.Expr.String())
			if err != nil {
				t.Fatalf("%s: %v", r.Record, err)
			}
			agg, ok := expr.(*parser.AggregateExpr)
			if !ok || agg.Op != parser.SUM || !agg.Without || !slices.Equal(agg.Grouping, DroppedLabels) {
				t.Errorf("%s = %s: want sum without(%v)", r.Record, expr, DroppedLabels)
				continue
			}
			inner := agg.Expr
			if tc.rated {
				call, ok := inner.(*parser.Call)
				if !ok || call.Func.Name != "rate" || model.Duration(call.Args[0].(*parser.MatrixSelector).Range).String() != RateWindow {
					t.Errorf("%s = %s: want rate(<metric>[%s]) inside", r.Record, expr, RateWindow)
					continue
				}
				inner = call.Args[0].(*parser.MatrixSelector).VectorSelector
			}
			// Each rule reads exactly the metric its name promises (Istio's
			// docs record the closed-connections series from the opened metric).
			vs, ok := inner.(*parser.VectorSelector)
			if !ok || tc.record(vs.Name) != r.Record {
				t.Errorf("%s reads %s", r.Record, inner)
			}
		}
		for _, m := range Metrics() {
			if !byRecord[tc.record(m)] {
				t.Errorf("%s: no rule for %s", tc.name, m)
			}
		}
	}
}

// TestPromtoolCheckRules runs the real rule checker on the plain rule file
// and on the groups inside the PrometheusRule object.
func TestPromtoolCheckRules(t *testing.T) {
	var pr struct {
		Spec map[string]any `json:"spec"`
	}
	raw, err := os.ReadFile(filepath.Join("generated", FilePrometheusRule))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, &pr); err != nil {
		t.Fatal(err)
	}
	spec, err := yaml.Marshal(pr.Spec)
	if err != nil {
		t.Fatal(err)
	}
	fromCR := filepath.Join(t.TempDir(), "from-prometheusrule.yaml")
	if err := os.WriteFile(fromCR, spec, 0o644); err != nil {
		t.Fatal(err)
	}
	out := promtool.Run(t, "check", "rules", "--lint=all", "--lint-fatal", filepath.Join("generated", FileRuleFile), fromCR)
	want := 2 * len(Metrics()) // a sum and a rate per metric
	if strings.Count(out, "SUCCESS: "+strconv.Itoa(want)+" rules found") != 2 {
		t.Errorf("promtool did not find %d rules in both files:\n%s", want, out)
	}
}

// TestPromtoolUnitTests proves each rule's value with input series
// (testdata/recording_rules_test.yaml), closed connections included.
func TestPromtoolUnitTests(t *testing.T) {
	promtool.Run(t, "test", "rules", filepath.Join("testdata", "recording_rules_test.yaml"))
}

// TestPromtoolCheckConfig checks the plain scrape jobs, with the rule file,
// as a whole prometheus.yml.
func TestPromtoolCheckConfig(t *testing.T) {
	dir := t.TempDir()
	rulesAbs, err := filepath.Abs(filepath.Join("generated", FileRuleFile))
	if err != nil {
		t.Fatal(err)
	}
	scrape, err := os.ReadFile(filepath.Join("generated", FileScrapeConfigs))
	if err != nil {
		t.Fatal(err)
	}
	cfg := "rule_files:\n  - " + rulesAbs + "\n" + string(scrape)
	path := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	promtool.Run(t, "check", "config", path)
}
