package main

import (
	"context"
	"fmt"
	"path/filepath"
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
	tools := []struct {
		name string
		cmd  func(kubeconfig string) cmdSpec
	}{
		{"meshbundle install", func(kc string) cmdSpec {
			return cmdSpec{path: t.meshbundle, dir: root, args: []string{"install", "--kubeconfig", kc, "--no-gateway",
				"--no-addons", "--wait", "--timeout", "5m", "-o", "json"}}
		}},
		{"istioctl install", func(kc string) cmdSpec {
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
				progress(tool.name + ": re-running on the installed cluster")
				rerun, err := runOnce(cctx, tool.cmd(c.Kubeconfig))
				if err != nil {
					run.err = fmt.Sprintf("re-run failed: %v", err)
					return
				}
				run.first, run.rerun = append(run.first, first), append(run.rerun, rerun)
			}()
		}
	}
	return res
}
