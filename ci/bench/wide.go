package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/meshbundle/meshbundle/ci/bench/chartgen"
)

// The wide-document rows: one document with many entries (a ConfigMap of
// 100 000 keys, a Service with 10 000 annotations, a Deployment with 1 000
// containers or 10 000 env entries) next to the many-pairs chart. Every
// document must cost O(its bytes): the goal is meshbundle-postrender alone
// within 2× of helm template's own CPU on the same input.

// wideCase is one wide document and its size.
type wideCase struct {
	kind string
	n    int
}

var wideCases = []wideCase{
	{chartgen.WideConfigMap, 100000},
	{chartgen.WideService, 10000},
	{chartgen.WideContainers, 1000},
	{chartgen.WideEnv, 10000},
}

// wideVariants are the rows measured per wide document.
var wideVariants = []string{vHelm, vHelmMesh, vMesh}

// wideResult holds the medians of each variant for one wide document.
type wideResult struct {
	c          wideCase
	inputBytes int64
	stats      map[string]stats
}

// wideAppMesh is the AppMesh of the wide rows: port fix mode (the wide
// Service's port is renamed), injection, the state ConfigMap.
const wideAppMesh = "apiVersion: meshbundle.dev/v1alpha1\nkind: AppMesh\nmetadata:\n  name: " + chartgen.Name + "\n  namespace: " + namespace + "\nspec:\n  ports:\n    mode: fix\n"

// measureWide writes the chart of c, checks the post-renderer's output
// once (the document is still there, edited where it should be), and runs
// the variants reps times, round-robin.
func measureWide(ctx context.Context, work string, c wideCase, tools toolset, reps int, progress func(string)) (*wideResult, error) {
	dir := filepath.Join(work, "wide-"+strings.ReplaceAll(strings.ToLower(c.kind), " ", "-"))
	chart := filepath.Join(dir, "chart")
	if err := chartgen.WriteWide(chart, c.kind, c.n); err != nil {
		return nil, err
	}
	am := filepath.Join(chart, chartgen.AppMeshFile)
	if err := os.WriteFile(am, []byte(wideAppMesh), 0o644); err != nil {
		return nil, err
	}
	rendered := filepath.Join(dir, "rendered.yaml")
	helm := func(extra ...string) cmdSpec {
		return cmdSpec{path: tools.helm, args: append([]string{"template", chartgen.Name, chart, "-n", namespace}, extra...)}
	}
	cmds := map[string]cmdSpec{
		vHelm:     helm(),
		vHelmMesh: helm("--post-renderer", tools.postrender, "--post-renderer-args", "--config="+am),
		vMesh:     {path: tools.postrender, args: []string{"--config=" + am}, stdin: rendered},
	}
	h := cmds[vHelm]
	h.stdout = rendered
	if _, err := runOnce(ctx, h); err != nil {
		return nil, fmt.Errorf("%s %d: %w", c.kind, c.n, err)
	}
	fi, err := os.Stat(rendered)
	if err != nil {
		return nil, err
	}
	check := cmds[vMesh]
	check.stdout = filepath.Join(dir, "out.yaml")
	if _, err := runOnce(ctx, check); err != nil {
		return nil, fmt.Errorf("%s %d: %w", c.kind, c.n, err)
	}
	out, err := os.ReadFile(check.stdout)
	if err != nil {
		return nil, err
	}
	if err := checkWide(c, string(out)); err != nil {
		return nil, err
	}
	res := &wideResult{c: c, inputBytes: fi.Size(), stats: map[string]stats{}}
	samples := map[string][]sample{}
	for rep := range reps {
		for _, v := range wideVariants {
			smp, err := runOnce(ctx, cmds[v])
			if err != nil {
				return nil, fmt.Errorf("%s %d, %s: %w", c.kind, c.n, v, err)
			}
			samples[v] = append(samples[v], smp)
		}
		progress(fmt.Sprintf("wide %s (%d): repetition %d/%d done", c.kind, c.n, rep+1, reps))
	}
	for v, ss := range samples {
		res.stats[v] = summarize(ss)
	}
	return res, nil
}

// checkWide: the post-renderer wrote the whole wide document and made its
// edits (injection of the Deployment, the rename of the Service's port).
func checkWide(c wideCase, out string) error {
	last := map[string]string{
		chartgen.WideConfigMap:  fmt.Sprintf("key-%d: value-%d\n", c.n-1, c.n-1),
		chartgen.WideService:    fmt.Sprintf("example.dev/note-%d:", c.n-1),
		chartgen.WideContainers: fmt.Sprintf("- name: c%d\n", c.n-1),
		chartgen.WideEnv:        fmt.Sprintf("- name: VAR_%d\n", c.n-1),
	}[c.kind]
	if !strings.Contains(out, last) {
		return fmt.Errorf("wide %s (%d): the output lacks the last entry %q", c.kind, c.n, last)
	}
	switch c.kind {
	case chartgen.WideService:
		if !strings.Contains(out, "- name: http-web\n") {
			return fmt.Errorf("wide %s: the port was not renamed to http-web", c.kind)
		}
	case chartgen.WideContainers, chartgen.WideEnv:
		if strings.Count(out, `sidecar.istio.io/inject: "true"`) != 2 {
			return fmt.Errorf("wide %s: the pod template lacks the injection label and annotation", c.kind)
		}
	}
	return nil
}

// wideMarkdown is the report's section on wide documents.
func (rep *report) wideMarkdown(w func(string, ...any)) {
	if len(rep.wide) == 0 {
		return
	}
	w("## Wide documents: one document, many entries (issue 20)\n\n")
	w("One template rendering a single document; `meshbundle-postrender` with port fix mode and injection on (the Service's port is renamed, the Deployment injected, the state ConfigMap added). Goals: meshbundle alone within 2× of `helm template`'s own CPU on the same input, i.e. every document costs O(its bytes), and its peak RSS within the budget of 20 MB + 3 × input. Medians of %d runs, round-robin.\n\n", rep.reps)
	w("| document | input | helm template CPU | helm template + meshbundle | meshbundle added | meshbundle alone | alone ÷ helm template | peak RSS alone | RSS allowed (20 MB + 3 × input) |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range rep.wide {
		h, p, m := r.stats[vHelm], r.stats[vHelmMesh], r.stats[vMesh]
		w("| %s: %d | %s | %s | %s | %s | %s | %s | %s | %s |\n", r.c.kind, r.c.n, mib(r.inputBytes), secs(h.cpu), secs(p.cpu), secs(p.cpu-h.cpu), secs(m.cpu), times(m.cpu, h.cpu), mib(m.maxRSS), mib(rssBudget(r.inputBytes)))
	}
	w("\n")
}

// wideGoal is the goals-table line of the wide rows.
func (rep *report) wideGoal() (goal, bool) {
	if len(rep.wide) == 0 {
		return goal{}, false
	}
	var parts, over []string
	for _, r := range rep.wide {
		ratio := float64(r.stats[vMesh].cpu) / float64(max(r.stats[vHelm].cpu, time.Microsecond))
		parts = append(parts, fmt.Sprintf("%s %d: %.2f×", r.c.kind, r.c.n, ratio))
		if ratio > 2 {
			over = append(over, fmt.Sprintf("%s %.2f×", r.c.kind, ratio))
		}
	}
	by := "every wide document within 2×"
	if len(over) > 0 {
		by = "over 2×: " + strings.Join(over, ", ")
	}
	return goal{"one wide document costs ≤ 2× `helm template` on it (meshbundle-postrender alone ÷ helm template CPU)", strings.Join(parts, "; "), verdict(len(over) == 0, by)}, true
}

// rssBudget is the peak RSS allowed for an input of n bytes: 20 MB + 3 × n
// (MB = 10⁶ bytes).
func rssBudget(n int64) int64 { return 20e6 + 3*n }

// wideMemoryGoal is the goals-table line of the wide rows' peak RSS.
func (rep *report) wideMemoryGoal() (goal, bool) {
	if len(rep.wide) == 0 {
		return goal{}, false
	}
	var parts, over []string
	for _, r := range rep.wide {
		got, limit := r.stats[vMesh].maxRSS, rssBudget(r.inputBytes)
		parts = append(parts, fmt.Sprintf("%s %d: %s of %s", r.c.kind, r.c.n, mib(got), mib(limit)))
		if got > limit {
			over = append(over, fmt.Sprintf("%s %.0f %% over", r.c.kind, 100*(float64(got)/float64(limit)-1)))
		}
	}
	by := "every wide document within"
	if len(over) > 0 {
		by = strings.Join(over, ", ")
	}
	return goal{"one wide document: peak RSS ≤ 20 MB + 3 × input (meshbundle-postrender alone; MB = 10⁶ bytes, shown in MiB)", strings.Join(parts, "; "), verdict(len(over) == 0, by)}, true
}
