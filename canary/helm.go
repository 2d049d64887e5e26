package canary

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/release"

	"github.com/meshbundle/meshbundle/appmesh"
	"github.com/meshbundle/meshbundle/failure"
	"github.com/meshbundle/meshbundle/renderer"
)

// HelmStore applies each step as a `helm upgrade` of the release through
// the Helm SDK, with the meshbundle renderer as post-renderer and the
// step's AppMesh; the chart and values are the release's own (reuse
// values). The applied AppMesh is read back from the state ConfigMap.
//
// With a Source (the CLI always gives one: --file, or --repo), the AppMesh
// file the team's own `helm upgrade` uses is the one source of truth: every
// step is written into it first, then applied, so the team's next routine
// upgrade with that file carries the canary (or the promotion) instead of
// dropping it. A file and a release that disagree are refused before
// anything changes.
type HelmStore struct {
	Config  *action.Configuration // for the release's namespace
	Release string
	Cluster *Cluster
	// Source holds the AppMesh file (FileStore or GitStore); nil: the state
	// ConfigMap is the only record (in-process use, tests).
	Source Store
	// Warn receives the renderer's warnings.
	Warn io.Writer
	// Timeout of one upgrade.
	Timeout time.Duration

	revision int              // the release revision Load saw; Save refuses another
	last     *appmesh.AppMesh // the Source's AppMesh as loaded or last saved
}

// Load reads the applied AppMesh from the ConfigMap meshbundle-<app>.
func (h *HelmStore) Load(ctx context.Context) (*appmesh.AppMesh, error) {
	rel, err := h.deployed()
	if err != nil {
		return nil, err
	}
	h.revision = rel.Version
	am, err := h.Cluster.AppliedAppMesh(ctx)
	if err != nil {
		return nil, err
	}
	if am == nil {
		return nil, &failure.BadInputError{Err: fmt.Errorf("app %q: no ConfigMap %s in namespace %s, so release %s was not installed with an AppMesh named %q (fix: check the app name, or install with --post-renderer meshbundle-postrender --post-renderer-args --config=<AppMesh>)",
			h.Cluster.App, renderer.StateConfigMapName(h.Cluster.App), h.Cluster.Namespace, h.Release, h.Cluster.App)}
	}
	if h.Source == nil {
		return am, nil
	}
	file, err := h.Source.Load(ctx)
	if err != nil {
		return nil, err
	}
	if !sameCanary(file, am) && oneStepAhead(am, file) {
		// A command was killed between recording a step in the file and
		// its helm upgrade: plan from what the release runs (the same
		// command then applies that step again), keeping the rest of the
		// file.
		fmt.Fprintf(h.progress(), "the AppMesh file records canary %s, one step ahead of release %s (canary %s): an interrupted step; planning from the release\n", describe(file.Spec.Canary), h.Release, describe(am.Spec.Canary))
		resumed := clone(file)
		resumed.Spec.Canary, resumed.Spec.Promoted = am.Spec.Canary, am.Spec.Promoted
		h.last = resumed
		return resumed, nil
	}
	if !sameCanary(file, am) {
		return nil, &ConflictError{Err: fmt.Errorf("the AppMesh file says canary %s, promoted %s, but release %s (revision %d, %q) runs canary %s, promoted %s: the file and the release disagree, and each canary step must start from the one state both record; nothing was changed (fix: if the file is right, apply it with your `helm upgrade ... --post-renderer-args --config=<file>`; if the release is right, e.g. a routine upgrade used an older copy of the file, set the file's spec.canary and spec.promoted to what `meshbundle canary status` shows, then run the command again)",
			describe(file.Spec.Canary), describePromoted(file.Spec.Promoted), h.Release, rel.Version, rel.Info.Description, describe(am.Spec.Canary), describePromoted(am.Spec.Promoted))}
	}
	h.last = file
	return file, nil
}

func (h *HelmStore) deployed() (*release.Release, error) {
	rel, err := action.NewGet(h.Config).Run(h.Release)
	if err != nil {
		return nil, &failure.BadInputError{Err: fmt.Errorf("--release %s: %w (fix: `helm list -n %s` shows the releases)", h.Release, err, h.Cluster.Namespace)}
	}
	if rel.Info.Status != release.StatusDeployed {
		return nil, fmt.Errorf("release %s is %s, not deployed; a canary step needs a settled release (fix: `helm rollback` or finish the running operation)", h.Release, rel.Info.Status)
	}
	return rel, nil
}

func (h *HelmStore) upgrade(ctx context.Context, am *appmesh.AppMesh, message string, dryRun bool) (*release.Release, error) {
	rel, err := h.deployed()
	if err != nil {
		return nil, err
	}
	if h.revision != 0 && rel.Version != h.revision {
		// Optimistic concurrency, as in GitOps mode: someone else upgraded
		// the release since this command read it.
		return nil, &ConflictError{Err: fmt.Errorf("release %s moved to revision %d since this command read revision %d (%s); nothing was changed (fix: `meshbundle canary status`, then run the command again)", h.Release, rel.Version, h.revision, rel.Info.Description)}
	}
	up := action.NewUpgrade(h.Config)
	up.Namespace = h.Cluster.Namespace
	up.ReuseValues = true
	up.Description = message
	up.PostRenderer = renderer.New(am, h.Warn)
	up.Timeout = h.Timeout
	if dryRun {
		up.DryRun, up.DryRunOption = true, "client"
	}
	return up.RunWithContext(ctx, h.Release, rel.Chart, map[string]any{})
}

// Check renders the chart with the planned AppMesh (client-side dry run):
// a renderer error (unknown Deployment, missing route...) is bad input.
func (h *HelmStore) Check(ctx context.Context, am *appmesh.AppMesh) error {
	if h.Source != nil {
		if err := h.Source.Check(ctx, am); err != nil {
			return err
		}
	}
	_, err := h.upgrade(ctx, am, "dry run", true)
	var bad *failure.BadInputError
	var conflict *ConflictError
	if err != nil && !errors.As(err, &bad) && !errors.As(err, &conflict) {
		return &failure.BadInputError{Err: err}
	}
	return err
}

// Save records the step in the Source, then upgrades the release; the
// reference is the new revision. A failed upgrade puts the Source back.
func (h *HelmStore) Save(ctx context.Context, am *appmesh.AppMesh, message string) (string, error) {
	prev := h.last
	if h.Source != nil {
		if _, err := h.Source.Save(ctx, am, message); err != nil {
			return "", fmt.Errorf("record the step in the AppMesh file: %w", err)
		}
	}
	rel, err := h.upgrade(ctx, am, message, false)
	if err != nil {
		err = fmt.Errorf("helm upgrade %s: %w", h.Release, err)
		if h.Source != nil && prev != nil {
			if _, rerr := h.Source.Save(ctx, prev, "revert: "+message); rerr != nil {
				err = fmt.Errorf("%w; and the AppMesh file could not be put back (%v): it records a step the release did not apply, so set its spec.canary back by hand", err, rerr)
			}
		}
		return "", err
	}
	h.revision, h.last = rel.Version, am
	return "revision " + strconv.Itoa(rel.Version), nil
}

func (h *HelmStore) progress() io.Writer {
	if h.Warn == nil {
		return io.Discard
	}
	return h.Warn
}

// oneStepAhead reports whether file records the first step some canary
// command plans from applied: the step a killed command recorded in the
// file but did not get to apply.
func oneStepAhead(applied, file *appmesh.AppMesh) bool {
	reqs := []Request{{Op: OpAbort}, {Op: OpPromote}}
	if c := file.Spec.Canary; c != nil {
		reqs = append(reqs, Request{Op: OpStart, Target: c.Target, Version: c.Version, Image: c.Image, Container: c.Container, Replaces: c.Replaces},
			Request{Op: OpWeight, Weight: c.Weight})
	}
	for _, req := range reqs {
		if p, err := NewPlan(applied, req); err == nil && len(p.Steps) > 0 && sameCanary(p.Steps[0].Config, file) {
			return true
		}
	}
	return false
}
