package rules

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/promql/parser"
	"sigs.k8s.io/yaml"

	"github.com/meshbundle/meshbundle/internal/promtool"
)

// TestGeneratedFiles fails when rules/generated/ is stale; refresh with
// `go generate ./rules` (UPDATE_GOLDEN=1).
func TestGeneratedFiles(t *testing.T) {
	files, err := Files(DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range files {
		path := filepath.Join("generated", name)
		if os.Getenv("UPDATE_GOLDEN") == "1" {
			if err := os.WriteFile(path, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%s: %v (run `go generate ./rules`)", path, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is stale: run `go generate ./rules` and commit it", path)
		}
	}
}

func TestRecordingRulesShape(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range RecordingRules() {
		if seen[r.Record] {
			t.Errorf("duplicate record %s", r.Record)
		}
		seen[r.Record] = true
		expr, err := parser.NewParser(parser.Options{}).ParseExpr(r.Expr.String())
		if err != nil {
			t.Fatalf("%s: %v", r.Record, err)
		}
		agg, ok := expr.(*parser.AggregateExpr)
		if !ok || agg.Op != parser.SUM || !agg.Without || !slices.Equal(agg.Grouping, DroppedLabels) {
			t.Errorf("%s = %s: want sum without(%v)", r.Record, expr, DroppedLabels)
			continue
		}
		// Each rule reads exactly the metric its name promises (Istio's docs
		// record the closed-connections series from the opened metric).
		vs, ok := agg.Expr.(*parser.VectorSelector)
		if !ok || RecordName(vs.Name) != r.Record {
			t.Errorf("%s reads %s", r.Record, agg.Expr)
		}
	}
	for _, m := range []string{"istio_tcp_connections_opened_total", "istio_tcp_connections_closed_total", "istio_request_bytes_bucket", "istio_response_bytes_bucket", "istio_request_duration_milliseconds_bucket"} {
		if !seen[RecordName(m)] {
			t.Errorf("no rule for %s", m)
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
	if !strings.Contains(out, "SUCCESS: "+strconv.Itoa(len(istioMetrics))+" rules found") {
		t.Errorf("promtool did not find %d rules:\n%s", len(istioMetrics), out)
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
