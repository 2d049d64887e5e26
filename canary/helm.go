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
	"helm.sh/helm/v3/pkg/releaseutil"
	corev1 "k8s.io/api/core/v1"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/meshbundle/meshbundle/appmesh"
	"github.com/meshbundle/meshbundle/failure"
	"github.com/meshbundle/meshbundle/lease"
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

	// Lease is the app's canary lease, held by the caller for the whole
	// command (the CLI takes <namespace>/meshbundle-canary-<app>, see
	// CanaryLease): with it, a revision a killed canary command left
	// pending-upgrade is unlocked and its step applied again; without it,
	// such a release is refused.
	Lease *lease.Lease

	revision    int              // the release revision Load saw; Save refuses another
	last        *appmesh.AppMesh // the Source's AppMesh as loaded or last saved
	interrupted bool             // Load found the newest revision not deployed
}

// Load reads the applied AppMesh from the ConfigMap meshbundle-<app>.
//
// A release whose newest revision is not deployed is a step that did not
// finish: a canary command killed during its helm upgrade leaves it
// pending-upgrade, and a failed upgrade leaves it failed. Either way the
// cluster may run part of that revision (Helm applies the state ConfigMap
// before the workloads and the Istio objects), so the state to plan from
// is the AppMesh of the last deployed revision's manifest, not the live
// ConfigMap; the file is then one step ahead and the step is applied
// again. A pending-upgrade revision is first marked failed, but only under
// the app's canary lease (Lease) and only when it is a canary step (see
// unlock); otherwise it may be a live operation and is refused.
func (h *HelmStore) Load(ctx context.Context) (*appmesh.AppMesh, error) {
	last, err := h.lastRelease()
	if err != nil {
		return nil, err
	}
	if last.Info.Status.IsPending() {
		if last, err = h.unlock(last); err != nil {
			return nil, err
		}
	}
	h.revision = last.Version
	var am *appmesh.AppMesh
	if last.Info.Status == release.StatusDeployed {
		h.interrupted = false
		if am, err = h.Cluster.AppliedAppMesh(ctx); err != nil {
			return nil, err
		}
	} else {
		dep, err := h.Config.Releases.Deployed(h.Release)
		if err != nil {
			return nil, fmt.Errorf("release %s revision %d is %s (%s) and no revision is deployed: %w (fix: `helm rollback %s` or reinstall it)", h.Release, last.Version, last.Info.Status, last.Info.Description, err, h.Release)
		}
		if am, err = manifestAppMesh(dep.Manifest, h.Cluster.App); err != nil {
			return nil, fmt.Errorf("release %s revision %d: %w", h.Release, dep.Version, err)
		}
		h.interrupted = true
		fmt.Fprintf(h.progress(), "release %s revision %d is %s (%s): the cluster may run part of it; planning from revision %d, the last deployed (canary %s)\n",
			h.Release, last.Version, last.Info.Status, last.Info.Description, dep.Version, describe(am.Spec.Canary))
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
		// its helm upgrade, or during the upgrade: plan from what the
		// release runs (the same command then applies that step again),
		// keeping the rest of the file.
		fmt.Fprintf(h.progress(), "the AppMesh file records canary %s, one step ahead of release %s (canary %s): an interrupted step; planning from the release\n", describe(file.Spec.Canary), h.Release, describe(am.Spec.Canary))
		resumed := clone(file)
		resumed.Spec.Canary, resumed.Spec.Promoted = am.Spec.Canary, am.Spec.Promoted
		h.last = resumed
		return resumed, nil
	}
	if !sameCanary(file, am) {
		return nil, &ConflictError{Err: fmt.Errorf("the AppMesh file says canary %s, promoted %s, but release %s (revision %d, %q) runs canary %s, promoted %s: the file and the release disagree, and each canary step must start from the one state both record; nothing was changed (fix: if the file is right, apply it with your `helm upgrade ... --post-renderer-args --config=<file>`; if the release is right, e.g. a routine upgrade used an older copy of the file, set the file's spec.canary and spec.promoted to what `meshbundle canary status` shows, then run the command again)",
			describe(file.Spec.Canary), describePromoted(file.Spec.Promoted), h.Release, last.Version, last.Info.Description, describe(am.Spec.Canary), describePromoted(am.Spec.Promoted))}
	}
	h.last = file
	return file, nil
}

// Interrupted reports whether Load found a step that did not finish (the
// newest revision is not deployed): the cluster may run part of it, so Run
// does not wait for the state ConfigMap to show the AppMesh Load returned.
func (h *HelmStore) Interrupted() bool { return h.interrupted }

// LastStep is the description of the release's newest revision when it is
// deployed: a canary step's timeline entry when a canary command made it
// ("" otherwise).
func (h *HelmStore) LastStep() string {
	last, err := h.lastRelease()
	if err != nil || last.Info.Status != release.StatusDeployed {
		return ""
	}
	return last.Info.Description
}

func (h *HelmStore) lastRelease() (*release.Release, error) {
	rel, err := h.Config.Releases.Last(h.Release)
	if err != nil {
		return nil, &failure.BadInputError{Err: fmt.Errorf("--release %s: %w (fix: `helm list -n %s` shows the releases)", h.Release, err, h.Cluster.Namespace)}
	}
	return rel, nil
}

// unlock marks a pending-upgrade revision failed when it is the step of a
// canary command that was killed during its helm upgrade. Every canary
// command on the app holds the app's lease for its whole run, so holding
// it proves no other canary command is upgrading the release; the revision
// must also be a canary step (its AppMesh one step ahead of the last
// deployed revision's) begun before this command took the lease. Anything
// else may be someone's live helm operation and is refused.
func (h *HelmStore) unlock(pending *release.Release) (*release.Release, error) {
	refuse := func(why string) error {
		return &ConflictError{Err: fmt.Errorf("release %s revision %d is %s (%s, since %s): %s; a canary step needs a settled release, and nothing was changed (fix: if a helm operation is running, wait for it; if it was killed, `helm rollback %s`)",
			h.Release, pending.Version, pending.Info.Status, pending.Info.Description, pending.Info.LastDeployed.UTC().Format(time.RFC3339), why, h.Release)}
	}
	if h.Lease == nil {
		return nil, refuse("this run does not hold the app's canary lease, so it cannot tell whether that operation is still running (the meshbundle CLI takes it: run the canary command again to resume a killed one)")
	}
	if pending.Info.Status != release.StatusPendingUpgrade {
		return nil, refuse("not an upgrade, so not a canary step")
	}
	if !pending.Info.LastDeployed.Time.Before(h.Lease.Acquired()) {
		return nil, refuse("it began after this command took the app's canary lease, so it is not a canary command's")
	}
	dep, err := h.Config.Releases.Deployed(h.Release)
	if err != nil {
		return nil, refuse(fmt.Sprintf("no deployed revision to go back to (%v)", err))
	}
	step, err := manifestAppMesh(pending.Manifest, h.Cluster.App)
	if err != nil {
		return nil, refuse(err.Error())
	}
	prev, err := manifestAppMesh(dep.Manifest, h.Cluster.App)
	if err != nil {
		return nil, refuse(err.Error())
	}
	if step == nil || prev == nil || !oneStepAhead(prev, step) {
		return nil, refuse(fmt.Sprintf("it is not a canary step of app %s from revision %d", h.Cluster.App, dep.Version))
	}
	if _, _, err := h.Lease.Unlock(h.Config, h.Release); err != nil {
		return nil, err
	}
	fmt.Fprintf(h.progress(), "release %s revision %d was left pending-upgrade by a killed canary command (canary %s); marked it failed under the app's canary lease; the step is applied again\n",
		h.Release, pending.Version, describe(step.Spec.Canary))
	return h.lastRelease()
}

// manifestAppMesh reads the app's AppMesh from the state ConfigMap in a
// release manifest (nil when the manifest has none).
func manifestAppMesh(manifest, app string) (*appmesh.AppMesh, error) {
	for _, doc := range releaseutil.SplitManifests(manifest) {
		var cm corev1.ConfigMap
		if err := sigsyaml.Unmarshal([]byte(doc), &cm); err != nil || cm.Kind != "ConfigMap" || cm.Name != renderer.StateConfigMapName(app) {
			continue
		}
		am, err := appmesh.Decode([]byte(cm.Data[renderer.StateKey]))
		if err != nil {
			return nil, fmt.Errorf("ConfigMap %s key %s in the release manifest: %w", cm.Name, renderer.StateKey, err)
		}
		return am, nil
	}
	return nil, nil
}

func (h *HelmStore) upgrade(ctx context.Context, am *appmesh.AppMesh, message string, dryRun bool) (*release.Release, error) {
	last, err := h.lastRelease()
	if err != nil {
		return nil, err
	}
	if last.Info.Status.IsPending() {
		return nil, &ConflictError{Err: fmt.Errorf("release %s revision %d is %s: another helm operation is under way (or was killed); nothing was changed (fix: `meshbundle canary status`, then run the command again)", h.Release, last.Version, last.Info.Status)}
	}
	if h.revision != 0 && last.Version != h.revision {
		// Optimistic concurrency, as in GitOps mode: someone else upgraded
		// the release since this command read it.
		return nil, &ConflictError{Err: fmt.Errorf("release %s moved to revision %d since this command read revision %d (%s); nothing was changed (fix: `meshbundle canary status`, then run the command again)", h.Release, last.Version, h.revision, last.Info.Description)}
	}
	// The chart is the deployed revision's (Helm upgrades from it, and
	// reuses its values, when the newest one failed).
	base := last
	if last.Info.Status != release.StatusDeployed {
		if dep, err := h.Config.Releases.Deployed(h.Release); err == nil {
			base = dep
		}
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
	return up.RunWithContext(ctx, h.Release, base.Chart, map[string]any{})
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
		return &failure.BadInputError{Err: err, Fix: "correct the AppMesh or chart as the message says; the dry run of helm upgrade refused it and nothing was changed"}
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
