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
type HelmStore struct {
	Config  *action.Configuration // for the release's namespace
	Release string
	Cluster *Cluster
	// Warn receives the renderer's warnings.
	Warn io.Writer
	// Timeout of one upgrade.
	Timeout time.Duration

	revision int // the release revision Load saw; Save refuses another
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
	return am, nil
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
	_, err := h.upgrade(ctx, am, "dry run", true)
	var bad *failure.BadInputError
	var conflict *ConflictError
	if err != nil && !errors.As(err, &bad) && !errors.As(err, &conflict) {
		return &failure.BadInputError{Err: err}
	}
	return err
}

// Save upgrades the release; the reference is the new revision.
func (h *HelmStore) Save(ctx context.Context, am *appmesh.AppMesh, message string) (string, error) {
	rel, err := h.upgrade(ctx, am, message, false)
	if err != nil {
		return "", fmt.Errorf("helm upgrade %s: %w", h.Release, err)
	}
	h.revision = rel.Version
	return "revision " + strconv.Itoa(rel.Version), nil
}
