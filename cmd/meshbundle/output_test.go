package main

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/meshbundle/meshbundle/failure"
)

// printsNoResult are the runnable commands without -o json|yaml, and why.
var printsNoResult = map[string]string{
	"meshbundle postrender":        "prints the rendered manifests (Helm's post-renderer contract)",
	"meshbundle argocd generate":   "prints the rendered manifests (Argo CD's plugin contract)",
	"meshbundle kiali-proxy":       "serves HTTP; prints nothing on stdout",
	"meshbundle dashboards render": "prints Kubernetes objects; its -o yaml|json is the object format (a YAML stream or a v1 List)",
	"meshbundle rules render":      "prints Kubernetes objects or Prometheus files; -o as dashboards render",
}

// TestEveryResultTakesOutput: every runnable command either has the one
// encoder's -o json|yaml or is listed in printsNoResult with its reason,
// so a new command cannot print a result that pipelines cannot parse.
func TestEveryResultTakesOutput(t *testing.T) {
	root := newRootCmd(nil, nil, nil)
	var withOutput []string
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			walk(sub)
		}
		if !c.Runnable() || c.HasSubCommands() || c.Name() == "help" || c.Name() == "completion" || strings.HasPrefix(c.CommandPath(), "meshbundle completion") {
			return
		}
		path := c.CommandPath()
		f := c.Flags().Lookup("output")
		if f == nil {
			f = c.InheritedFlags().Lookup("output") // canary's is persistent
		}
		encoder := false
		if f != nil {
			_, encoder = f.Value.(*output)
		}
		_, exempt := printsNoResult[path]
		switch {
		case encoder && exempt:
			t.Errorf("%s has -o json|yaml but is listed in printsNoResult", path)
		case !encoder && !exempt:
			t.Errorf("%s prints a result without the one encoder's -o json|yaml (registerOutput)", path)
		case encoder:
			withOutput = append(withOutput, path)
		}
	}
	walk(root)
	if len(withOutput) < 20 { // install, upgrade, uninstall, status, tag x3, canary x5, gateway x5, cluster link, version, dashboards import
		t.Errorf("only %d commands with -o: %v", len(withOutput), withOutput)
	}
	t.Logf("%d commands with -o json|yaml: %s", len(withOutput), strings.Join(withOutput, ", "))
}

// TestOutputFormats: -o json and -o yaml carry the same result; anything
// else is bad input before the command runs (negative control).
func TestOutputFormats(t *testing.T) {
	decode := func(t *testing.T, format string, out []byte) any {
		t.Helper()
		var v any
		var err error
		if format == "yaml" {
			err = yaml.Unmarshal(out, &v)
		} else {
			err = json.Unmarshal(out, &v)
		}
		if err != nil {
			t.Fatalf("-o %s output does not parse: %v\n%s", format, err, out)
		}
		return v
	}
	for _, args := range [][]string{
		{"version"},
		{"install", "--dry-run", "--no-addons"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			got := map[string]any{}
			for _, format := range []string{"json", "yaml"} {
				var stdout, stderr bytes.Buffer
				if code := run(append(args, "-o", format), nil, &stdout, &stderr); code != failure.OK {
					t.Fatalf("-o %s: exit %d: %s", format, code, stderr.String())
				}
				got[format] = decode(t, format, stdout.Bytes())
			}
			// Two runs; only their timings may differ.
			dropElapsed(got["json"])
			dropElapsed(got["yaml"])
			if !reflect.DeepEqual(got["json"], got["yaml"]) {
				t.Errorf("-o json and -o yaml differ:\njson %v\nyaml %v", got["json"], got["yaml"])
			}
			var stdout, stderr bytes.Buffer
			if code := run(append(args, "-o", "xml"), nil, &stdout, &stderr); code != failure.BadInput || stdout.Len() > 0 ||
				!strings.Contains(stderr.String(), `invalid argument "xml" for "-o, --output" flag: use json or yaml`) {
				t.Errorf("-o xml: exit %d, stdout %q, stderr %q; want exit 2, nothing on stdout, the flag named", code, stdout.String(), stderr.String())
			}
		})
	}
}

// dropElapsed deletes every "elapsed" field (a timing) from a decoded result.
func dropElapsed(v any) {
	switch v := v.(type) {
	case map[string]any:
		delete(v, "elapsed")
		for _, e := range v {
			dropElapsed(e)
		}
	case []any:
		for _, e := range v {
			dropElapsed(e)
		}
	}
}
