package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/meshbundle/meshbundle/ci/testcluster"
)

// installRun is one install on its own fresh control plane, and its re-run.
type installRun struct {
	tool         string
	first, rerun sample
	err          string // why it did not complete
}

type installResult struct {
	runs []installRun
	note string
}

// measureInstall installs the same IstioOperator (values/default.yaml) with
// `meshbundle install` and with `istioctl install`, each on a fresh local
// control plane with a fake node (pods become Ready), then runs each again
// on its installed cluster. Both wait for readiness (istioctl does by
// default, meshbundle with --wait). meshbundle's own extras are turned off
// so both do the same work: no ingress gateway release (the IstioOperator
// disables istioctl's gateway) and no addons chart.
func measureInstall(ctx context.Context, t toolset, progress func(string)) *installResult {
	root, err := testcluster.RepoRoot()
	if err != nil {
		return &installResult{note: err.Error()}
	}
	iop := filepath.Join(root, "values", "default.yaml")
	noAddons := filepath.Join(os.TempDir(), "meshbundle-bench-no-addons-chart")
	res := &installResult{}
	for _, tool := range []struct {
		name string
		cmd  func(kubeconfig string) cmdSpec
	}{
		{"meshbundle install", func(kc string) cmdSpec {
			return cmdSpec{path: t.meshbundle, dir: root, args: []string{"install", "--kubeconfig", kc, "--no-gateway",
				"--addons-chart", noAddons, "--wait", "--timeout", "5m", "-o", "json"}}
		}},
		{"istioctl install", func(kc string) cmdSpec {
			return cmdSpec{path: t.istioctl, dir: root, args: []string{"install", "--kubeconfig", kc, "-f", iop, "-y",
				"--readiness-timeout", "5m"}}
		}},
	} {
		progress(tool.name + ": starting a fresh local control plane")
		run := installRun{tool: tool.name}
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
			if run.first, err = runOnce(cctx, tool.cmd(c.Kubeconfig)); err != nil {
				run.err = fmt.Sprintf("install failed: %v", err)
				return
			}
			progress(tool.name + ": re-running on the installed cluster")
			if run.rerun, err = runOnce(cctx, tool.cmd(c.Kubeconfig)); err != nil {
				run.err = fmt.Sprintf("re-run failed: %v", err)
			}
		}()
		res.runs = append(res.runs, run)
	}
	return res
}
