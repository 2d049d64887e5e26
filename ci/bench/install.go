package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/go-logr/logr"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/meshbundle/meshbundle/ci/testcluster"
)

// installRun is one tool's installs, each on its own fresh control plane,
// and the re-runs on the installed clusters.
type installRun struct {
	tool         string
	first, rerun []sample
	err          string // why it did not complete
	// meshbundle's own account of each run (-o json): seconds per phase.
	firstPhases, rerunPhases []phaseTimes
}

// phaseTimes is one run's elapsed time per phase, in the order run.
type phaseTimes struct {
	order []string
	took  map[string]time.Duration
}

// installJSON is the part of `meshbundle install -o json` the bench reads.
type installJSON struct {
	Phases []struct {
		Phase    string  `json:"phase"`
		Elapsed  float64 `json:"elapsed"` // seconds
		Releases []struct {
			Name   string `json:"name"`
			Action string `json:"action"`
		} `json:"releases"`
	} `json:"phases"`
}

// readInstallJSON reads a run's -o json result: its phase times, and the
// releases it wrote (installed or upgraded), which a re-run must not have.
func readInstallJSON(path string) (phaseTimes, []string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return phaseTimes{}, nil, err
	}
	var res installJSON
	if err := json.Unmarshal(b, &res); err != nil {
		return phaseTimes{}, nil, fmt.Errorf("meshbundle install -o json: %w", err)
	}
	pt := phaseTimes{took: map[string]time.Duration{}}
	var written []string
	for _, p := range res.Phases {
		pt.order = append(pt.order, p.Phase)
		pt.took[p.Phase] = time.Duration(p.Elapsed * float64(time.Second))
		for _, r := range p.Releases {
			if r.Action != "unchanged" {
				written = append(written, r.Name+" "+r.Action)
			}
		}
	}
	return pt, written, nil
}

type installResult struct {
	runs []*installRun
	note string
}

// measureInstall installs the same IstioOperator (values/default.yaml) with
// `meshbundle install` and with `istioctl install`, each on a fresh local
// control plane with a fake node (pods become Ready), then runs each again
// on its installed cluster. Both wait for readiness (istioctl does by
// default, meshbundle with --wait). meshbundle's own extras are turned off
// so both do the same work: no ingress gateway release (the IstioOperator
// disables istioctl's gateway) and no addons chart.
// The tools alternate, reps times each, so load hits both alike.
func measureInstall(ctx context.Context, t toolset, reps int, progress func(string)) *installResult {
	root, err := testcluster.RepoRoot()
	if err != nil {
		return &installResult{note: err.Error()}
	}
	iop := filepath.Join(root, "values", "default.yaml")
	// testcluster uses controller-runtime, which otherwise complains (with
	// a stack trace) that no logger is set.
	ctrllog.SetLogger(logr.Discard())
	res := &installResult{}
	resultFile := filepath.Join(os.TempDir(), fmt.Sprintf("bench-install-%d.json", os.Getpid()))
	defer os.Remove(resultFile)
	tools := []struct {
		name string
		json bool // writes -o json to resultFile
		cmd  func(kubeconfig string) cmdSpec
	}{
		{"meshbundle install", true, func(kc string) cmdSpec {
			return cmdSpec{path: t.meshbundle, dir: root, args: []string{"install", "--kubeconfig", kc, "--no-gateway",
				"--no-addons", "--wait", "--timeout", "5m", "-o", "json"}, stdout: resultFile}
		}},
		{"istioctl install", false, func(kc string) cmdSpec {
			return cmdSpec{path: t.istioctl, dir: root, args: []string{"install", "--kubeconfig", kc, "-f", iop, "-y",
				"--readiness-timeout", "5m"}}
		}},
	}
	for _, tool := range tools {
		res.runs = append(res.runs, &installRun{tool: tool.name})
	}
	for rep := range reps {
		for i, tool := range tools {
			run := res.runs[i]
			if run.err != "" {
				continue
			}
			progress(fmt.Sprintf("%s (%d/%d): starting a fresh local control plane", tool.name, rep+1, reps))
			func() {
				cctx, cancel := context.WithTimeout(ctx, 12*time.Minute)
				defer cancel()
				c, err := testcluster.Start(cctx, testcluster.WithPods())
				if err != nil {
					run.err = "local control plane did not start: " + err.Error()
					return
				}
				defer c.Stop()
				progress(tool.name + ": installing")
				first, err := runOnce(cctx, tool.cmd(c.Kubeconfig))
				if err != nil {
					run.err = fmt.Sprintf("install failed: %v", err)
					return
				}
				var firstPhases phaseTimes
				if tool.json {
					if firstPhases, _, err = readInstallJSON(resultFile); err != nil {
						run.err = err.Error()
						return
					}
				}
				progress(tool.name + ": re-running on the installed cluster")
				rerun, err := runOnce(cctx, tool.cmd(c.Kubeconfig))
				if err != nil {
					run.err = fmt.Sprintf("re-run failed: %v", err)
					return
				}
				if tool.json {
					// A re-run that wrote anything is not the idempotent
					// re-run being timed.
					rerunPhases, written, err := readInstallJSON(resultFile)
					if err != nil {
						run.err = err.Error()
						return
					}
					if len(written) > 0 {
						run.err = "re-run was not a no-op: " + strings.Join(written, ", ")
						return
					}
					run.firstPhases, run.rerunPhases = append(run.firstPhases, firstPhases), append(run.rerunPhases, rerunPhases)
				}
				run.first, run.rerun = append(run.first, first), append(run.rerun, rerun)
			}()
		}
	}
	return res
}

// writePhases is meshbundle's own account of where its install and re-run
// time goes (the phases of -o json), medians with min–max over the runs.
func (in *installResult) writePhases(w func(string, ...any)) {
	for _, r := range in.runs {
		if len(r.firstPhases) == 0 {
			continue
		}
		w("Where `%s`'s time goes, by its own account (`-o json` phase times; medians, min–max in brackets; the process start and result printing are the rest of the wall time):\n\n", r.tool)
		w("| phase | install | re-run |\n|---|---:|---:|\n")
		for _, p := range r.firstPhases[0].order {
			w("| %s | %s | %s |\n", p, phaseStat(r.firstPhases, p), phaseStat(r.rerunPhases, p))
		}
		w("\nThe `istiod` phase installs `istiod` and then `meshbundle-mesh`, whose mesh-wide `Telemetry` the API server sends to istiod's validation webhook (fail-open on a first install). Whether that call fails at once (no istiod endpoint yet) or only after about 2 s (the kwok pod's fake IP is reachable and answered by this machine's network, not by an istiod) depends on timing, so its max can be ~2 s above its min; on a real cluster the call reaches istiod or fails at once. istioctl creates no Istio resource while installing.\n\n")
	}
}

// phaseStat is "median (min–max)" of one phase over runs.
func phaseStat(runs []phaseTimes, phase string) string {
	var ds []time.Duration
	for _, r := range runs {
		if d, ok := r.took[phase]; ok {
			ds = append(ds, d)
		}
	}
	if len(ds) == 0 {
		return "–"
	}
	slices.Sort(ds)
	return fmt.Sprintf("%s (%s–%s)", secs(ds[len(ds)/2]), secs(ds[0]), secs(ds[len(ds)-1]))
}
