package dashboards

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	grafanasdk "github.com/grafana-tools/sdk"
	"github.com/prometheus/prometheus/promql/parser"
)

// TestTitlesMatchGrafanaCom pins each grafana.com ID to its title there:
// Kiali's dashboard links find Grafana dashboards by these titles.
func TestTitlesMatchGrafanaCom(t *testing.T) {
	want := map[int]string{
		7639:  "Istio Mesh Dashboard",
		11829: "Istio Performance Dashboard",
		7636:  "Istio Service Dashboard",
		7630:  "Istio Workload Dashboard",
		7645:  "Istio Control Plane Dashboard",
	}
	specs := All()
	if len(specs) != len(want) {
		t.Fatalf("%d dashboards, want %d", len(specs), len(want))
	}
	for _, s := range specs {
		b := generatedJSON(t, s)
		var got struct {
			Title    string `json:"title"`
			GnetID   string `json:"gnetId"`
			Revision int    `json:"revision"`
			UID      string `json:"uid"`
		}
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatal(err)
		}
		if got.Title != want[s.GnetID] {
			t.Errorf("gnetId %d: title %q, want %q", s.GnetID, got.Title, want[s.GnetID])
		}
		if got.GnetID == "" || got.Revision == 0 || len(got.UID) != 32 {
			t.Errorf("%s: gnetId %q revision %d uid %q: online import needs gnetId and revision", s.File, got.GnetID, got.Revision, got.UID)
		}
	}
}

// TestQueriesParse parses every panel and variable query with Prometheus'
// own parser, after substituting Grafana's variables.
func TestQueriesParse(t *testing.T) {
	for _, s := range All() {
		exprs := dashboardExprs(t, s)
		if len(exprs) < 5 {
			t.Errorf("%s: only %d queries", s.File, len(exprs))
		}
		for _, e := range exprs {
			if _, err := parser.NewParser(parser.Options{}).ParseExpr(e.promql); err != nil {
				t.Errorf("%s %q: %v\n%s", s.File, e.where, err, e.promql)
			}
		}
	}
}

// TestRoundTripGrafanaModel decodes each dashboard into grafana-tools/sdk's
// Board (the Grafana dashboard model the import client speaks) and encodes it
// again: titles, panels, queries, layout and variables must survive.
func TestRoundTripGrafanaModel(t *testing.T) {
	for _, s := range All() {
		orig := generatedJSON(t, s)
		var board grafanasdk.Board
		if err := json.Unmarshal(orig, &board); err != nil {
			t.Fatalf("%s: not a Grafana dashboard: %v", s.File, err)
		}
		again, err := json.Marshal(board)
		if err != nil {
			t.Fatal(err)
		}
		a, b := projection(t, orig), projection(t, again)
		if !reflect.DeepEqual(a, b) {
			ja, _ := json.MarshalIndent(a, "", " ")
			jb, _ := json.MarshalIndent(b, "", " ")
			t.Errorf("%s changed in grafana-tools/sdk round trip:\nbefore %s\nafter  %s", s.File, ja, jb)
		}
	}
}

// projection keeps what a dashboard means: its identity, every panel's
// type, title, position, unit and queries, and its variables.
func projection(t *testing.T, raw []byte) map[string]any {
	t.Helper()
	var d struct {
		UID        string   `json:"uid"`
		Title      string   `json:"title"`
		Tags       []string `json:"tags"`
		Editable   bool     `json:"editable"`
		Panels     []map[string]any
		Templating struct {
			List []map[string]any `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatal(err)
	}
	var panels []any
	for _, p := range d.Panels {
		var targets []any
		ts, _ := p["targets"].([]any)
		for _, x := range ts {
			m := x.(map[string]any)
			targets = append(targets, []any{str(m["refId"]), str(m["expr"]), str(m["legendFormat"]), boolean(m["instant"])})
		}
		panels = append(panels, []any{p["type"], p["title"], p["gridPos"], targets})
	}
	var vars []any
	for _, v := range d.Templating.List {
		vars = append(vars, []any{str(v["type"]), str(v["name"]), v["query"], str(v["regex"]), boolean(v["multi"]), boolean(v["includeAll"]), str(v["allValue"])})
	}
	return map[string]any{"uid": d.UID, "title": d.Title, "tags": d.Tags, "editable": d.Editable, "panels": panels, "vars": vars}
}

// str and boolean read JSON values where an omitted field means the zero
// value (the SDK omits empty fields; Grafana reads both the same way).
func str(v any) string {
	s, _ := v.(string)
	return s
}

func boolean(v any) bool {
	b, _ := v.(bool)
	return b
}

func generatedJSON(t *testing.T, s Spec) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("generated", s.File))
	if err != nil {
		t.Fatalf("%v (run `go generate ./dashboards`)", err)
	}
	return b
}

type expr struct {
	where  string // panel or variable title
	promql string // with Grafana variables substituted
}

// testVars are the values a user would pick, matching the test series in
// eval_test.go: the reviews Service called by productpage, calling ratings.
var testVars = map[string]string{
	"__rate_interval": "1m",
	"__interval":      "1m",
	"datasource":      "prometheus",
	"service":         "reviews.default.svc.cluster.local",
	"qrep":            "source|destination", // the "All" value
	"srcns":           "default",
	"srcwl":           "productpage-v1",
	"dstns":           "default",
	"dstwl":           "reviews-v1",
	"namespace":       "default",
	"workload":        "reviews-v1",
	"dstsvc":          ".*", // the "All" value
	"gateway":         "istio-ingressgateway",
}

var grafanaVar = regexp.MustCompile(`\$\{?(\w+)\}?`)

// substitute replaces Grafana variables; an unknown variable is an error,
// so a typo in a dashboard cannot hide behind the substitution.
func substitute(t *testing.T, where, s string) string {
	t.Helper()
	return grafanaVar.ReplaceAllStringFunc(s, func(m string) string {
		name := grafanaVar.FindStringSubmatch(m)[1]
		v, ok := testVars[name]
		if !ok {
			t.Errorf("%s: unknown Grafana variable %s in %s", where, m, s)
		}
		return v
	})
}

// dashboardExprs lists every PromQL query of a generated dashboard: panel
// targets and the expressions inside query_result(...) variables.
func dashboardExprs(t *testing.T, s Spec) []expr {
	t.Helper()
	var d struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Name  string `json:"name"`
				Type  string `json:"type"`
				Query any    `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(generatedJSON(t, s), &d); err != nil {
		t.Fatal(err)
	}
	var out []expr
	for _, p := range d.Panels {
		for _, x := range p.Targets {
			out = append(out, expr{where: p.Title, promql: substitute(t, p.Title, x.Expr)})
		}
	}
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		q, _ := v.Query.(string)
		inner, ok := strings.CutPrefix(q, "query_result(")
		if !ok || !strings.HasSuffix(inner, ")") {
			t.Errorf("%s variable %s: query %q is not query_result(<PromQL>)", s.File, v.Name, q)
			continue
		}
		out = append(out, expr{where: "variable " + v.Name, promql: substitute(t, v.Name, strings.TrimSuffix(inner, ")"))})
	}
	return out
}
