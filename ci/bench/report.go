package main

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// report collects everything one run measured and prints BENCHMARKS.md.
type report struct {
	sizes                    []int
	reps, kustomizeMax       int
	startMachine, endMachine machine
	versions                 map[string]string
	duration                 time.Duration

	startup stats
	render  []*sizeResult
	wide    []*wideResult // one wide document each (wide.go)
	// argocdNotMeasured says why the Argo CD plugin has no figures.
	argocdNotMeasured string
	alias             *aliasResult
	aliasErr          error
	install           *installResult
	micro             string
	microErr          error
}

func secs(d time.Duration) string {
	switch {
	case d == 0:
		return "0"
	case d.Abs() < 10*time.Millisecond:
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	case d.Abs() < time.Second:
		return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%.2f s", d.Seconds())
	}
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

func pct(a, b time.Duration) string {
	if b <= 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.0f %%", 100*float64(a)/float64(b))
}

func times(a, b time.Duration) string {
	if b <= 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.1f×", float64(a)/float64(b))
}

// added is the median CPU a post-renderer adds to helm template: the
// pipeline's median minus helm template's median, measured in the same run.
func (r *sizeResult) added(pipeline string) (time.Duration, bool) {
	p, ok := r.stats[pipeline]
	if !ok {
		return 0, false
	}
	return p.cpu - r.stats[vHelm].cpu, true
}

// goal is one line of the goals table.
type goal struct{ name, measured, verdict string }

func verdict(met bool, by string) string {
	if met {
		return "**met** (" + by + ")"
	}
	return "**missed** (" + by + ")"
}

func (rep *report) markdown() string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("# meshbundle benchmarks\n\n")
	w("Written by `make bench` (`go run ./ci/bench`, source in `ci/bench/`) on %s; do not edit by hand — re-run it.\n", rep.startMachine.at.Format("2006-01-02 15:04 MST"))
	w("The whole run took %s.\n\n", rep.duration.Round(time.Second))

	w("## Machine\n\n")
	m := rep.startMachine
	w("| | |\n|---|---|\n")
	w("| CPU | %s, %d cores (nproc) |\n| memory | %s |\n| Go | %s |\n", m.cpuModel, m.nproc, m.memTotal, m.goVer)
	for _, k := range []string{"helm", "kustomize", "yq", "istioctl"} {
		w("| %s | %s |\n", k, strings.ReplaceAll(rep.versions[k], "\n", " "))
	}
	e := rep.endMachine
	w("| load average at start (1/5/15 min) | %.2f / %.2f / %.2f |\n", m.load[0], m.load[1], m.load[2])
	w("| load average at end (1/5/15 min) | %.2f / %.2f / %.2f |\n\n", e.load[0], e.load[1], e.load[2])
	busy := max(m.load[0], e.load[0], m.load[1], e.load[1])
	if busy > float64(m.nproc)/2 {
		w("**This machine was busy during the run** (load average up to %.1f on %d cores): other work — other people's compilers and tests on this shared machine — competed for the CPUs. Wall times and absolute CPU figures are inflated and noisy under such load (CPU time less so than wall time, but cache and frequency effects still count). Read the **ratios**: each is between two figures measured in the same run, round-robin, so the load hit both alike.\n\n", busy, m.nproc)
	}

	w("## How to read these tables\n\n")
	w("- **CPU** is user + sys time of the measured process *and the children it waited for*, from the kernel's accounting of the child (`wait4` rusage, Go's `os.ProcessState.SysUsage`). In a `helm template + X` row that is helm plus its post-renderer X (and a wrapper shell where X needs one). **Wall** is elapsed time. **Peak RSS** is `ru_maxrss`: the largest single process among them, not a sum.\n")
	w("- Every figure is the **median of %d runs** (fewer where a run exceeded the slow cutoff; the `n` column says how many), the variants interleaved round-robin so a burst of load hits them alike; `min–max` shows the spread.\n", rep.reps)
	w("- **added** = median CPU of `helm template + X` minus median CPU of `helm template` alone in the same run: what a user pays for X, including helm's own work of piping to it and parsing its output again. Small charts make this difference noisy (it can even come out negative).\n")
	w("- **meshbundle-postrender alone** runs the post-renderer on helm's saved output: its own process only, the least noisy figure of its cost.\n")
	w("- The charts are synthetic (`ci/bench/chartgen`): N Deployment+Service pairs of about 1 KB of YAML each (probes on a named port, named targetPort, resources, a `version` label), one template file per pair; every 4th Service names its port `web`, which Istio cannot read a protocol from.\n")
	w("- **meshbundle-postrender runs with every filter on**: injection (label + annotation on every pod template), port fix (renames each `web` port to `http-web`), a route (VirtualService + DestinationRule) bound to a Gateway for every 10th Service, an alias for every 10th Service (ExternalName and custom-domain ServiceEntry alternately), the state ConfigMap, and a canary in the AppMesh")
	canary := ""
	for _, r := range rep.render {
		if r.setup.canaryRendered {
			canary = "rendered"
		} else if canary == "" {
			canary = "not rendered"
		}
	}
	if canary == "not rendered" {
		w(" — **this build does not render the canary yet** (the canary copy `svc-0000-v2` is not in the output), so the canary's cost is not in these figures.\n")
	} else {
		w(" (the canary copy `svc-0000-v2` is in the output).\n")
	}
	w("- **kustomize and yq do only the subset they can**: the pod-template injection label and annotation on every Deployment and the port renames. They cannot create routes, aliases or the state object. kustomize cannot pick the ports to rename itself, so its kustomization lists one JSON patch per bad Service (what a user would have to write); it runs through a two-line shell wrapper (helm feeds a post-renderer on stdin, kustomize reads files). yq runs one expression over the stream (also through a wrapper, to hold the expression). The driver checks every tool's output once per size before measuring (injection count, renamed-port count, meshbundle's VirtualServices), so all tools did their edits.\n\n")

	rep.writeGoals(w)
	rep.writeRender(w)
	rep.wideMarkdown(w)
	rep.writeStartup(w)
	rep.writeArgo(w)
	rep.writeAlias(w)
	rep.writeInstall(w)
	w("## Renderer micro-benchmarks\n\n`go test -run '^$' -bench . -benchmem ./renderer/` (in-process, no exec; allocations show regressions in review):\n\n")
	if rep.microErr != nil {
		w("Failed: `%v`\n\n", firstLine(rep.microErr.Error()))
	} else if rep.micro == "" {
		w("Not run (-skip micro).\n\n")
	} else {
		w("```\n%s\n```\n\n", rep.micro)
	}
	return b.String()
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

func (rep *report) result(n int) *sizeResult {
	for _, r := range rep.render {
		if r.setup.n == n {
			return r
		}
	}
	return nil
}

func (rep *report) writeGoals(w func(string, ...any)) {
	var goals []goal
	// 1. ≤ 25 % of helm template CPU (stretch ≤ 10 %), every size.
	if len(rep.render) > 0 {
		var parts []string
		worst, worstAlone := -1e9, -1e9
		for _, r := range rep.render {
			h := r.stats[vHelm].cpu
			a, _ := r.added(vHelmMesh)
			alone := r.stats[vMesh].cpu
			parts = append(parts, fmt.Sprintf("%d: +%s (alone %s)", r.setup.n, pct(a, h), pct(alone, h)))
			worst = max(worst, float64(a)/float64(h))
			worstAlone = max(worstAlone, float64(alone)/float64(h))
		}
		by := fmt.Sprintf("worst size +%.0f %% added in the pipeline, %.0f %% alone; stretch ≤ 10 %% %s", 100*worst, 100*worstAlone, map[bool]string{true: "met", false: "missed"}[worst <= 0.10])
		// How much of the cost is parsing every document, which no filter
		// can avoid (renderer micro-benchmarks, same input): with the
		// scanner Render uses, and with yaml.v3 alone.
		floor, okF := microNsPerOp(rep.micro, "BenchmarkParseFloor/500")
		scan, okS := microNsPerOp(rep.micro, "BenchmarkParseFloor/500/scanner")
		all, okA := microNsPerOp(rep.micro, "BenchmarkRenderAllFilters/500")
		switch {
		case okF && okS && okA && all > 0:
			by += fmt.Sprintf("; parsing the documents is %.0f %% of meshbundle's own cost with the scanner it uses, %.0f %% with yaml.v3 alone (micro-benchmarks)", 100*scan/all, 100*floor/all)
		case okF && okA && all > 0:
			by += fmt.Sprintf("; parsing the documents with yaml.v3 alone is %.0f %% of meshbundle's own cost (micro-benchmarks)", 100*floor/all)
		}
		goals = append(goals, goal{"meshbundle adds ≤ 25 % to `helm template` CPU at every size (stretch ≤ 10 %)", strings.Join(parts, "; "), verdict(worst <= 0.25, by)})
	}
	// 2. Linear growth: 5 000 ≤ 10.5 × 500.
	if r5, r50 := rep.result(5000), rep.result(500); r5 != nil && r50 != nil {
		alone := float64(r5.stats[vMesh].cpu) / float64(r50.stats[vMesh].cpu)
		a5, _ := r5.added(vHelmMesh)
		a50, _ := r50.added(vHelmMesh)
		pipe := float64(a5) / float64(a50)
		goals = append(goals, goal{"grows linearly: CPU at 5 000 ≤ 10.5 × CPU at 500",
			fmt.Sprintf("alone %.1f× (%s → %s); added in the pipeline %.1f× (%s → %s)", alone, secs(r50.stats[vMesh].cpu), secs(r5.stats[vMesh].cpu), pipe, secs(a50), secs(a5)),
			verdict(alone <= 10.5, fmt.Sprintf("judged on the standalone figure: %.1f× vs 10.5×", alone))})
	} else {
		goals = append(goals, goal{"grows linearly: CPU at 5 000 ≤ 10.5 × CPU at 500", "not measured: this run did not include both 500 and 5 000 (-sizes)", "—"})
	}
	// 3. Peak memory ≤ 20 MB + 3 × input.
	if len(rep.render) > 0 {
		var parts, over []string
		for _, r := range rep.render {
			limit := 20e6 + 3*float64(r.setup.inputBytes)
			got := float64(r.stats[vMesh].maxRSS)
			if got > limit {
				over = append(over, fmt.Sprintf("%d pairs %.0f %% over", r.setup.n, 100*(got/limit-1)))
			}
			parts = append(parts, fmt.Sprintf("%d: %s of %s allowed", r.setup.n, mib(int64(got)), mib(int64(limit))))
		}
		by := "every size within"
		if len(over) > 0 {
			by = strings.Join(over, ", ")
		}
		measured := strings.Join(parts, "; ")
		// The trade-off: the same runs held to the budget by GOMEMLIMIT.
		var limited []string
		for _, r := range rep.render {
			l, ok := r.stats[vMeshLimit]
			d := r.stats[vMesh]
			if !ok || d.cpu == 0 {
				continue
			}
			limit := 20e6 + 3*float64(r.setup.inputBytes)
			within := "within"
			if float64(l.maxRSS) > limit {
				within = fmt.Sprintf("%.1f %% over", 100*(float64(l.maxRSS)/limit-1))
			}
			limited = append(limited, fmt.Sprintf("%d: %s (%s) at %.1f× the CPU", r.setup.n, mib(l.maxRSS), within, float64(l.cpu)/float64(d.cpu)))
		}
		if len(limited) > 0 {
			measured += ". With GOMEMLIMIT at the budget (less start-up RSS): " + strings.Join(limited, "; ")
		}
		goals = append(goals, goal{"peak RSS ≤ 20 MB + 3 × input size (meshbundle-postrender alone, default settings; MB = 10⁶ bytes, shown in MiB)", measured, verdict(len(over) == 0, by)})
	}
	// 4. ≥ 20× less CPU than kustomize at 500, ≥ 100× at 2 000.
	for _, kg := range []struct {
		n    int
		want float64
	}{{500, 20}, {2000, 100}} {
		name := fmt.Sprintf("≥ %.0f× less CPU than kustomize at %d", kg.want, kg.n)
		r := rep.result(kg.n)
		if r == nil {
			goals = append(goals, goal{name, fmt.Sprintf("not measured: %d not in -sizes", kg.n), "—"})
			continue
		}
		k, ok := r.added(vHelmKustomize)
		if !ok {
			goals = append(goals, goal{name, "not measured: " + r.setup.kustomizeSkipped, "—"})
			continue
		}
		mb, _ := r.added(vHelmMesh)
		alone := r.stats[vMesh].cpu
		ratio := float64(k) / float64(mb)
		goals = append(goals, goal{name,
			fmt.Sprintf("kustomize adds %s, meshbundle adds %s (%.0f×); against meshbundle alone (%s): %.0f×", secs(k), secs(mb), ratio, secs(alone), float64(k)/float64(alone)),
			verdict(mb > 0 && ratio >= kg.want, fmt.Sprintf("%.0f× vs %.0f×, judged on the added figures", ratio, kg.want))})
	}
	// 5. Start-up.
	if rep.startup.n > 0 {
		s := rep.startup
		goals = append(goals, goal{"post-renderer start-up on empty input ≤ 10 ms and ≤ 20 MB",
			fmt.Sprintf("%s wall, %s CPU, %s peak RSS (median of %d)", secs(s.wall), secs(s.cpu), mib(s.maxRSS), s.n),
			verdict(s.wall <= 10*time.Millisecond && s.maxRSS <= 20e6, fmt.Sprintf("%.0f %% of the time budget, %.0f %% of the memory budget", 100*float64(s.wall)/float64(10*time.Millisecond), 100*float64(s.maxRSS)/20e6))})
	}
	// 6. Argo CD.
	argoGoal := "Argo CD plugin `generate` ≤ 3 s wall for 2 000 services"
	switch r := rep.result(2000); {
	case rep.argocdNotMeasured != "":
		goals = append(goals, goal{argoGoal, rep.argocdNotMeasured, "—"})
	case r == nil:
		goals = append(goals, goal{argoGoal, "not measured: 2000 not in -sizes", "—"})
	default:
		a := r.stats[vArgo]
		goals = append(goals, goal{argoGoal, fmt.Sprintf("%s wall, %s CPU (median of %d)", secs(a.wall), secs(a.cpu), a.n),
			verdict(a.wall <= 3*time.Second, fmt.Sprintf("%.0f %% of 3 s", 100*a.wall.Seconds()/3))})
	}
	// 7. Alias: judged on the per-alias figures of the 100-Service mesh.
	const aliasGoal = "default alias variant (ExternalName) adds 0 clusters and ≤ 1 % config bytes per alias"
	if a := rep.alias; a != nil {
		var def *aliasFigures
		for i := range a.rows {
			if a.rows[i].isDefault {
				def = &a.rows[i]
			}
		}
		if def == nil {
			goals = append(goals, goal{aliasGoal, "not measured: TestAliasCost logged no default variant", "—"})
		} else {
			c, b := def.perAlias(a.base)
			p := def.perAliasPct(a.base)
			goals = append(goals, goal{aliasGoal,
				fmt.Sprintf("%s in a mesh of %d Services with one alias each: %+d clusters in all (%.2f per alias), %+d bytes in all = %.0f bytes per alias = %.3f %% of the %d-byte no-alias sidecar config", def.variant, def.services, def.clusters-a.base.clusters, c, def.bytes-a.base.bytes, b, p, a.base.bytes),
				verdict(def.clusters == a.base.clusters && p <= 1, fmt.Sprintf("%d clusters added; %.3f %% vs 1 %% per alias", def.clusters-a.base.clusters, p))})
		}
	} else {
		goals = append(goals, goal{aliasGoal, aliasNotMeasured(rep), "—"})
	}
	// 8. Install.
	if rep.install != nil && len(rep.install.runs) == 2 {
		mb, ic := rep.install.runs[0], rep.install.runs[1]
		mbFirst, mbRerun := summarize(mb.first), summarize(mb.rerun)
		icFirst, icRerun := summarize(ic.first), summarize(ic.rerun)
		switch {
		case mb.err != "":
			goals = append(goals, goal{"`meshbundle install` ≤ 1.0× `istioctl install`; re-run ≤ 2 s", "meshbundle install failed: " + firstLine(mb.err), "**missed** (did not complete)"})
		case ic.err != "":
			goals = append(goals, goal{"`meshbundle install` ≤ 1.0× `istioctl install`", fmt.Sprintf("meshbundle %s wall; istioctl did not complete: %s", secs(mbFirst.wall), firstLine(ic.err)), "— (no baseline)"})
			goals = append(goals, goal{"idempotent re-run ≤ 2 s", secs(mbRerun.wall) + " wall", verdict(mbRerun.wall <= 2*time.Second, fmt.Sprintf("%.1f s vs 2 s", mbRerun.wall.Seconds()))})
		default:
			ratio := mbFirst.wall.Seconds() / icFirst.wall.Seconds()
			goals = append(goals, goal{"`meshbundle install` ≤ 1.0× `istioctl install` (wall, median)", fmt.Sprintf("%s vs %s = %.2f× (CPU %s vs %s)", secs(mbFirst.wall), secs(icFirst.wall), ratio, secs(mbFirst.cpu), secs(icFirst.cpu)), verdict(ratio <= 1.0, fmt.Sprintf("%.2f× vs 1.0×", ratio))})
			goals = append(goals, goal{"idempotent re-run ≤ 2 s (wall, median)", fmt.Sprintf("meshbundle %s (istioctl %s)", secs(mbRerun.wall), secs(icRerun.wall)), verdict(mbRerun.wall <= 2*time.Second, fmt.Sprintf("%.1f s vs 2 s", mbRerun.wall.Seconds()))})
		}
	}
	if g, ok := rep.wideGoal(); ok {
		goals = append(goals, g)
	}
	if g, ok := rep.wideMemoryGoal(); ok {
		goals = append(goals, g)
	}
	w("## Goals (issue 10, DESIGN §7)\n\n| goal | measured | verdict |\n|---|---|---|\n")
	for _, g := range goals {
		w("| %s | %s | %s |\n", g.name, g.measured, g.verdict)
	}
	w("\n")
}

func aliasNotMeasured(rep *report) string {
	if rep.aliasErr != nil {
		return "not measured: TestAliasCost failed: " + firstLine(rep.aliasErr.Error())
	}
	return "not measured (-skip alias)"
}

func (rep *report) writeRender(w func(string, ...any)) {
	if len(rep.render) == 0 {
		return
	}
	w("## Post-render cost: ratios against `helm template` (same run)\n\n")
	w("| pairs | input | helm template CPU | meshbundle added | meshbundle alone | yq added | kustomize added | kustomize ÷ meshbundle | yq ÷ meshbundle |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range rep.render {
		h := r.stats[vHelm].cpu
		mb, _ := r.added(vHelmMesh)
		yq, _ := r.added(vHelmYQ)
		alone := r.stats[vMesh].cpu
		kcol, kratio := "skipped", "—"
		if k, ok := r.added(vHelmKustomize); ok {
			kcol = fmt.Sprintf("%s (%s)", secs(k), pct(k, h))
			kratio = times(k, mb)
		}
		w("| %d | %s | %s | %s (%s) | %s (%s) | %s (%s) | %s | %s | %s |\n", r.setup.n, mib(r.setup.inputBytes), secs(h),
			secs(mb), pct(mb, h), secs(alone), pct(alone, h), secs(yq), pct(yq, h), kcol, kratio, times(yq, mb))
	}
	w("\nPercentages are of `helm template` alone at that size. Ratios ÷ meshbundle use the *added* figures of both.\n\n")

	w("## Post-render cost: absolute figures\n\n")
	w("| pairs | variant | n | CPU median (min–max) | user | sys | wall | peak RSS |\n|---:|---|---:|---|---:|---:|---:|---:|\n")
	for _, r := range rep.render {
		for _, v := range renderVariants {
			s, ok := r.stats[v]
			if !ok {
				continue
			}
			w("| %d | %s | %d | %s (%s–%s) | %s | %s | %s | %s |\n", r.setup.n, v, s.n, secs(s.cpu), secs(s.minCPU), secs(s.maxCPU), secs(s.user), secs(s.sys), secs(s.wall), mib(s.maxRSS))
		}
	}
	w("\n")
	for _, r := range rep.render {
		s := r.setup
		w("- %d pairs: %s of helm output; meshbundle configured with %d routes, %d aliases; %d ports renamed by every tool; meshbundle wrote %d documents.", s.n, mib(s.inputBytes), s.routes, s.aliases, s.badPorts, s.meshOutDocs)
		if s.kustomizeSkipped != "" {
			w(" kustomize %s.", s.kustomizeSkipped)
		}
		for _, n := range r.notes {
			w(" %s.", n)
		}
		w("\n")
	}
	w("\n")

	w("## Growth from size to size (median CPU)\n\n")
	w("Linear growth means the CPU factor equals the size factor; fixed start-up costs make it smaller at small sizes.\n\n")
	w("| from → to | size factor | helm template | meshbundle added | meshbundle alone | yq added | kustomize added |\n|---|---:|---:|---:|---:|---:|---:|\n")
	sorted := slices.Clone(rep.render)
	slices.SortFunc(sorted, func(a, b *sizeResult) int { return a.setup.n - b.setup.n })
	for i := 1; i < len(sorted); i++ {
		a, b := sorted[i-1], sorted[i]
		f := func(get func(*sizeResult) (time.Duration, bool)) string {
			x, ok1 := get(a)
			y, ok2 := get(b)
			if !ok1 || !ok2 || x <= 0 {
				return "—"
			}
			return fmt.Sprintf("%.1f×", float64(y)/float64(x))
		}
		stat := func(v string) func(*sizeResult) (time.Duration, bool) {
			return func(r *sizeResult) (time.Duration, bool) { s, ok := r.stats[v]; return s.cpu, ok }
		}
		add := func(v string) func(*sizeResult) (time.Duration, bool) {
			return func(r *sizeResult) (time.Duration, bool) { return r.added(v) }
		}
		w("| %d → %d | %.1f× | %s | %s | %s | %s | %s |\n", a.setup.n, b.setup.n, float64(b.setup.n)/float64(a.setup.n),
			f(stat(vHelm)), f(add(vHelmMesh)), f(stat(vMesh)), f(add(vHelmYQ)), f(add(vHelmKustomize)))
	}
	w("\n")
}

func (rep *report) writeStartup(w func(string, ...any)) {
	if rep.startup.n == 0 {
		return
	}
	s := rep.startup
	w("## Post-renderer start-up\n\n`meshbundle-postrender` with no AppMesh file on empty stdin (an AppMesh naming Services fails on an input without them), %d runs: median %s wall, %s CPU (%s–%s), %s peak RSS. Goal ≤ 10 ms and ≤ 20 MB.\n\n",
		s.n, secs(s.wall), secs(s.cpu), secs(s.minCPU), secs(s.maxCPU), mib(s.maxRSS))
}

func (rep *report) writeArgo(w func(string, ...any)) {
	w("## Argo CD plugin `generate`\n\n")
	if rep.argocdNotMeasured != "" {
		w("%s.\n\n", rep.argocdNotMeasured)
		return
	}
	w("`meshbundle argocd generate --dir <chart>` with `ARGOCD_APP_NAME`/`ARGOCD_APP_NAMESPACE` set, as Argo CD's cmp-server runs it on every refresh of every app: the Helm SDK renders the chart in-process and the renderer post-renders it with the same AppMesh (every filter on). Goal ≤ 3 s wall at 2 000 services.\n\n")
	w("| pairs | wall | CPU | peak RSS | CPU vs `helm template + meshbundle-postrender` |\n|---:|---:|---:|---:|---:|\n")
	for _, r := range rep.render {
		a, ok := r.stats[vArgo]
		if !ok {
			continue
		}
		w("| %d | %s | %s | %s | %s |\n", r.setup.n, secs(a.wall), secs(a.cpu), mib(a.maxRSS), times(a.cpu, r.stats[vHelmMesh].cpu))
	}
	w("\n")
}

func (rep *report) writeAlias(w func(string, ...any)) {
	w("## Alias cost (Istio's own config generation)\n\n")
	a := rep.alias
	if a == nil {
		w("%s.\n\n", aliasNotMeasured(rep))
		return
	}
	base := a.base
	w("From `TestAliasCost` in `renderer/meshcheck` (run by the driver, %s): a mesh of **%d Services** (each a Deployment with one named HTTP container port behind a Service with one `http` port 80), rendered by `meshbundle`'s renderer from an AppMesh with **one alias per Service** in each variant (ExternalName is what the AppMesh picks when no variant is set; the ServiceEntry variants use custom domains `<svc>.alias.internal`), and once with no alias. Istio's fake discovery server (`pilot/test/xds`, istiod's own config generation) then builds the config of a client sidecar in the app's namespace. **bytes** are the proto-marshalled sizes of the clusters + listeners + route configurations it receives (CDS/LDS/RDS; EDS endpoints are not counted). The test also checks that a call to every alias lands on the cluster the variant promises (Istio's traffic simulation) and that DNS aliases keep Istio mTLS.\n\n", secs(a.elapsed), base.services)
	w("| set-up | clusters | listeners | route configs | virtual hosts | bytes (clusters / listeners / routes) |\n|---|---:|---:|---:|---:|---:|\n")
	row := func(name string, f aliasFigures) {
		w("| %s | %d | %d | %d | %d | %d (%d / %d / %d) |\n", name, f.clusters, f.listeners, f.routeConfigs, f.vhosts, f.bytes, f.clusterBytes, f.listenerBytes, f.routeBytes)
	}
	row(fmt.Sprintf("no alias (%d Services)", base.services), base)
	for _, r := range a.rows {
		row(fmt.Sprintf("%s, %d aliases", aliasVariantName(r), r.aliases), r)
	}
	w("\nAgainst the no-alias baseline (Δ = with aliases − without; per alias = Δ ÷ number of aliases; %% = per-alias bytes of the %d-byte baseline):\n\n", base.bytes)
	w("| variant | Δ clusters | Δ listeners | Δ route configs | Δ virtual hosts | Δ bytes (clusters / listeners / routes) | clusters per alias | bytes per alias | per alias, %% of baseline |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range a.rows {
		c, b := r.perAlias(base)
		w("| %s | %+d | %+d | %+d | %+d | %+d (%+d / %+d / %+d) | %.2f | %.0f | %.3f %% |\n", aliasVariantName(r), r.clusters-base.clusters, r.listeners-base.listeners, r.routeConfigs-base.routeConfigs, r.vhosts-base.vhosts,
			r.bytes-base.bytes, r.clusterBytes-base.clusterBytes, r.listenerBytes-base.listenerBytes, r.routeBytes-base.routeBytes, c, b, r.perAliasPct(base))
	}
	w("\n")
}

func aliasVariantName(f aliasFigures) string {
	if f.isDefault {
		return "`" + f.variant + "` (default)"
	}
	return "`" + f.variant + "`"
}

func (rep *report) writeInstall(w func(string, ...any)) {
	w("## Install\n\n")
	in := rep.install
	if in == nil {
		w("Not run (-skip install).\n\n")
		return
	}
	if in.note != "" {
		w("Not measured: %s\n\n", in.note)
		return
	}
	w("The same IstioOperator (`values/default.yaml`: base, istio-cni, istiod; its legacy ingress gateway is off) installed by `meshbundle install --no-gateway --no-addons --wait` (meshbundle's own ingress-gateway release and observability addons off, so both do the same work; the full default install with gateway needs a running istiod for the gateway's injection and is covered by `installer/e2e`, not timed here) and by `istioctl install -f values/default.yaml -y` (waits for readiness by default), each on its own **fresh** local control plane (`testcluster.Start` with `WithPods`: etcd, kube-apiserver, controller-manager, scheduler, kwok; pods become Ready on a fake node, images are never pulled). Then each command runs again on its installed cluster (idempotent re-run). Medians of `n` installs per tool, alternating between the tools, a fresh cluster for each; CPU is the CLI process's own (the control plane's is not counted), so **wall** is the figure the goal is judged on.\n\n")
	w("| command | n | install wall (min–max) | install CPU | install peak RSS | re-run wall (min–max) | re-run CPU | result |\n|---|---:|---:|---:|---:|---:|---:|---|\n")
	for _, r := range in.runs {
		result := "completed"
		if r.err != "" {
			result = "**failed**: " + strings.ReplaceAll(tail(r.err, 600), "\n", " ")
		}
		f, re := summarize(r.first), summarize(r.rerun)
		w("| `%s` | %d | %s (%s–%s) | %s | %s | %s (%s–%s) | %s | %s |\n", r.tool, f.n, secs(f.wall), secs(minWall(r.first)), secs(maxWall(r.first)), secs(f.cpu), mib(f.maxRSS),
			secs(re.wall), secs(minWall(r.rerun)), secs(maxWall(r.rerun)), secs(re.cpu), result)
	}
	w("\n")
	in.writePhases(w)
}

func minWall(ss []sample) time.Duration {
	if len(ss) == 0 {
		return 0
	}
	m := ss[0].wall
	for _, s := range ss {
		m = min(m, s.wall)
	}
	return m
}

func maxWall(ss []sample) time.Duration {
	var m time.Duration
	for _, s := range ss {
		m = max(m, s.wall)
	}
	return m
}

// microNsPerOp reads the ns/op of one benchmark from the micro-benchmark
// output ("BenchmarkX/500-2   26   46882754 ns/op ...").
func microNsPerOp(out, name string) (float64, bool) {
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 4 || f[3] != "ns/op" {
			continue
		}
		if f[0] != name && !strings.HasPrefix(f[0], name+"-") {
			continue
		}
		v, err := strconv.ParseFloat(f[2], 64)
		return v, err == nil
	}
	return 0, false
}
