package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"github.com/meshbundle/meshbundle/dashboards"
	"github.com/meshbundle/meshbundle/dashboards/grafana"
	"github.com/meshbundle/meshbundle/failure"
	"github.com/meshbundle/meshbundle/rules"
)

// newDashboardsCmd groups dashboard import and rendering.
func newDashboardsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dashboards",
		Short: "The five Istio Grafana dashboards (Mesh, Performance, Service, Workload, Control Plane): import or render",
	}
	cmd.AddCommand(newDashboardsImportCmd(), newDashboardsRenderCmd())
	return cmd
}

func newDashboardsImportCmd() *cobra.Command {
	var (
		grafanaURL, token, folder string
		out                       output
		overwrite                 bool
		timeout                   time.Duration
	)
	cmd := &cobra.Command{
		Use:   "import",
		Short: "Import the dashboards into Grafana through its HTTP API (folder created if missing; re-running converges)",
		Long: `Import the dashboards into Grafana through its HTTP API. The folder is
created if missing. Existing dashboards (same UID) are replaced with
--overwrite and left alone without it, so re-running converges either way.
The token is a Grafana service account token (Editor role), or user:password;
it may also come from $GRAFANA_TOKEN. Progress goes to stderr; the
per-dashboard result to stdout (-o json|yaml, a table without -o).`,
		Example: `  meshbundle dashboards import --grafana-url http://grafana.monitoring:3000 --token "$GRAFANA_TOKEN" --folder Istio --overwrite`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if grafanaURL == "" {
				// Checked here, not with MarkFlagRequired, whose error
				// cobra returns as it is (exit 1, not bad input).
				return failure.BadInputf("--grafana-url: required (fix: give Grafana's base URL, e.g. --grafana-url http://grafana.monitoring:3000)")
			}
			if token == "" {
				token = os.Getenv("GRAFANA_TOKEN")
			}
			api, err := grafana.NewAPI(grafanaURL, token, &http.Client{Timeout: timeout})
			if err != nil {
				return &failure.BadInputError{Err: err, Fix: "see meshbundle dashboards import --help"}
			}
			res, err := grafana.Import(cmd.Context(), api, dashboards.All(), grafana.Options{
				Folder: folder, Overwrite: overwrite, Progress: cmd.ErrOrStderr(),
			})
			if err != nil {
				return err
			}
			return out.write(cmd.OutOrStdout(), res, func(w io.Writer) error { return printResults(w, res) })
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&grafanaURL, "grafana-url", "", "Grafana base URL, e.g. http://grafana.monitoring:3000 (required)")
	fl.StringVar(&token, "token", "", "Grafana service account token or user:password (default $GRAFANA_TOKEN)")
	fl.StringVar(&folder, "folder", dashboards.DefaultFolder, "Grafana folder (created if missing); empty for General")
	fl.BoolVar(&overwrite, "overwrite", false, "replace dashboards that already exist (same UID)")
	fl.DurationVar(&timeout, "timeout", 30*time.Second, "per-request timeout")
	registerOutput(fl, &out)
	return cmd
}

func newDashboardsRenderCmd() *cobra.Command {
	var (
		format, namespace, folder, output, dir string
		selector                               []string
		online                                 bool
	)
	cmd := &cobra.Command{
		Use:   "render",
		Short: "Print the dashboards as Grafana JSON, sidecar ConfigMaps or grafana-operator GrafanaDashboards",
		Long: `Print the dashboards. --format json prints the Grafana dashboard JSON
(one document per dashboard, or files in --dir); configmap prints ConfigMaps
labelled grafana_dashboard: "1" for kube-prometheus-stack's Grafana sidecar;
grafana-operator prints GrafanaDashboard objects (with --online they make
the operator download the pinned grafana.com revision instead).`,
		Example: `  meshbundle dashboards render --format configmap -n monitoring | kubectl apply -f -
  meshbundle dashboards render --format json --dir ./dashboards`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "yaml" && output != "json" {
				return failure.BadInputf("--output %q: not an output format (fix: use -o yaml or json)", output)
			}
			out := cmd.OutOrStdout()
			switch format {
			case "json":
				return writeDashboardJSON(out, cmd.ErrOrStderr(), dir)
			case "configmap":
				cms, err := dashboards.ConfigMaps(namespace, folder)
				if err != nil {
					return err
				}
				objs := make([]any, 0, len(cms))
				for _, c := range cms {
					objs = append(objs, c)
				}
				return writeObjects(out, output, objs)
			case "grafana-operator":
				sel, err := parseLabels("--instance-selector", selector)
				if err != nil {
					return err
				}
				gds, err := dashboards.GrafanaDashboards(dashboards.GrafanaDashboardOptions{Namespace: namespace, Folder: folder, InstanceSelector: sel, Online: online})
				if err != nil {
					return &failure.BadInputError{Err: err, Fix: "pass --instance-selector with the labels of your Grafana object, e.g. dashboards=grafana"}
				}
				objs := make([]any, 0, len(gds))
				for _, g := range gds {
					objs = append(objs, g.Object)
				}
				return writeObjects(out, output, objs)
			default:
				return failure.BadInputf("--format %q: not a format (fix: use json, configmap or grafana-operator)", format)
			}
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&format, "format", "json", "json, configmap or grafana-operator")
	fl.StringVarP(&namespace, "namespace", "n", "monitoring", "namespace of the ConfigMaps / GrafanaDashboards")
	fl.StringVar(&folder, "folder", dashboards.DefaultFolder, "Grafana folder")
	fl.StringArrayVar(&selector, "instance-selector", []string{"dashboards=grafana"}, "grafana-operator: label key=value of the target Grafana objects (repeatable)")
	fl.BoolVar(&online, "online", false, "grafana-operator: import the pinned grafana.com revision instead of embedding our JSON")
	fl.StringVar(&dir, "dir", "", "json: write <name>.json files into this directory instead of stdout")
	fl.StringVarP(&output, "output", "o", "yaml", "yaml or json (Kubernetes object formats)")
	return cmd
}

func writeDashboardJSON(out, progress io.Writer, dir string) error {
	files, err := dashboards.Files()
	if err != nil {
		return err
	}
	for _, s := range dashboards.All() {
		if dir == "" {
			if _, err := out.Write(files[s.File]); err != nil {
				return err
			}
			continue
		}
		path := filepath.Join(dir, s.File)
		if err := os.WriteFile(path, files[s.File], 0o644); err != nil {
			return fmt.Errorf("write %s: %w (does --dir exist?)", path, err)
		}
		fmt.Fprintf(progress, "wrote %s (%s)\n", path, s.Title)
	}
	return nil
}

// writeObjects prints Kubernetes objects as a YAML stream or a JSON List.
func writeObjects(w io.Writer, format string, objs []any) error {
	if format == "json" {
		items := make([]runtime.RawExtension, 0, len(objs))
		for _, o := range objs {
			b, err := json.Marshal(o)
			if err != nil {
				return err
			}
			items = append(items, runtime.RawExtension{Raw: b})
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{"apiVersion": "v1", "kind": "List", "items": items})
	}
	var buf bytes.Buffer
	for i, o := range objs {
		b, err := yaml.Marshal(o)
		if err != nil {
			return err
		}
		if i > 0 {
			buf.WriteString("---\n")
		}
		buf.Write(b)
	}
	_, err := w.Write(buf.Bytes())
	return err
}

func parseLabels(flag string, kvs []string) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, failure.BadInputf("%s %q: not a label (fix: write it as key=value)", flag, kv)
		}
		out[k] = v
	}
	return out, nil
}

// newRulesCmd prints the Prometheus side of the bundle.
func newRulesCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rules",
		Short: "Istio's workload recording rules and scrape setup for Prometheus",
	}
	var (
		format, namespace, output string
		labels                    []string
	)
	render := &cobra.Command{
		Use:   "render",
		Short: "Print the recording rules and scrape setup (prometheus-operator objects or plain Prometheus files)",
		Long: `Print the recording rules and scrape setup. --format operator prints the
PrometheusRule, PodMonitor (injected pods, port 15020 /stats/prometheus) and
ServiceMonitor (istiod, 15014); rule-file prints a Prometheus rule file and
scrape-config a scrape_configs block, for Prometheus without the operator.`,
		Example: `  meshbundle rules render --format operator -n istio-system --label release=kube-prometheus-stack | kubectl apply -f -
  meshbundle rules render --format rule-file > /etc/prometheus/istio-recording-rules.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			lbl, err := parseLabels("--label", labels)
			if err != nil {
				return err
			}
			o := rules.Options{Namespace: namespace, Labels: lbl}
			out := cmd.OutOrStdout()
			switch format {
			case "operator":
				if output != "yaml" && output != "json" {
					return failure.BadInputf("--output %q: not an output format (fix: use -o yaml or json)", output)
				}
				return writeObjects(out, output, []any{rules.PrometheusRule(o), rules.PodMonitor(o), rules.ServiceMonitor(o)})
			case "rule-file":
				b, err := yaml.Marshal(rules.RuleGroups())
				if err != nil {
					return err
				}
				_, err = out.Write(b)
				return err
			case "scrape-config":
				b, err := rules.ScrapeConfigsYAML(o)
				if err != nil {
					return err
				}
				_, err = out.Write(b)
				return err
			default:
				return failure.BadInputf("--format %q: not a format (fix: use operator, rule-file or scrape-config)", format)
			}
		},
	}
	fl := render.Flags()
	fl.StringVar(&format, "format", "operator", "operator, rule-file or scrape-config")
	fl.StringVarP(&namespace, "namespace", "n", "istio-system", "namespace of the objects; for scrape-config, istiod's namespace")
	fl.StringArrayVar(&labels, "label", nil, "extra label key=value on the objects, e.g. release=kube-prometheus-stack (repeatable)")
	fl.StringVarP(&output, "output", "o", "yaml", "yaml or json (operator format)")
	cmd.AddCommand(render)
	return cmd
}

// printResults prints import results as a table.
func printResults(w io.Writer, res []grafana.Result) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TITLE\tUID\tACTION")
	for _, r := range res {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", r.Title, r.UID, r.Action)
	}
	return tw.Flush()
}
