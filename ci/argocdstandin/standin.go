// Package argocdstandin is a stand-in for Argo CD's sync of an app, for
// the end-to-end tests of GitOps mode. Argo CD itself (application
// controller, repo-server, cmp-server) cannot run here, so a poller does
// the one thing those tests need from it: it reads the AppMesh Argo CD
// would see (the working copy's file, or the file in a remote's branch,
// i.e. only pushed commits) and, when that changed, applies the release
// rendered with it through the meshbundle post-renderer in the order of an
// Argo CD sync (gitops-engine: within a sync wave, pruning first, then
// kind by kind in Helm's install order, custom resources last), with a gap
// between the groups:
//
//  1. prune: the objects of the last synced revision the new render does
//     not have are deleted;
//  2. the kinds Helm installs before Services (Namespaces, ConfigMaps,
//     Secrets, RBAC, ...): the state ConfigMap;
//  3. gap, then the kinds from Services on (Services, Deployments, HPAs,
//     ...): the workloads;
//  4. gap, then the rest, custom resources (VirtualServices,
//     DestinationRules, Gateway API routes), by a helm upgrade of the
//     release (canary.HelmStore.Save), which also records the revision;
//     it re-applies 2. and 3. unchanged and has nothing left to prune.
//
// What it does not do that Argo CD does: sync waves and hooks, waiting for
// health between waves, apply kind by kind within a group (Argo CD applies
// each kind, then the next one, with no pause it makes on purpose). The
// gap stands for the time a real sync takes between the state ConfigMap
// and the custom resources (many objects, a slow API server, a big app);
// DefaultGap is small, tests that need the order to show raise it (Gap).
// It is late on purpose (it polls every interval): a canary step that
// moved on before its commit was synced shows up as two commits synced as
// one (Synced counts the syncs).
package argocdstandin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/kube"
	"helm.sh/helm/v3/pkg/releaseutil"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/cli-runtime/pkg/resource"

	"github.com/meshbundle/meshbundle/appmesh"
	"github.com/meshbundle/meshbundle/canary"
	"github.com/meshbundle/meshbundle/renderer"
)

// Source returns the AppMesh document Argo CD would sync now. An error
// means it cannot be read at this moment (a push under way); the poller
// tries again at the next tick.
type Source func() ([]byte, error)

// WorkingCopy is the file at path, as written (Argo CD syncing the
// working copy's latest commit; the canary command commits right after it
// writes the file).
func WorkingCopy(path string) Source {
	return func() ([]byte, error) { return os.ReadFile(path) }
}

// Branch is the file at path (slash-separated, relative to the repository
// root) in the newest commit of branch in the repository at dir (a bare
// remote): only what was pushed, as Argo CD sees it.
func Branch(dir string, branch plumbing.ReferenceName, path string) Source {
	return func() ([]byte, error) {
		r, err := git.PlainOpen(dir)
		if err != nil {
			return nil, err
		}
		ref, err := r.Reference(branch, true)
		if err != nil {
			return nil, err
		}
		commit, err := r.CommitObject(ref.Hash())
		if err != nil {
			return nil, err // a push under way: the ref ahead of its objects
		}
		f, err := commit.File(path)
		if err != nil {
			return nil, err
		}
		data, err := f.Contents()
		return []byte(data), err
	}
}

// Sync is a running stand-in.
type Sync struct {
	gap      time.Duration // between the groups of a sync
	stop     chan struct{}
	stopOnce sync.Once
	done     chan struct{}
	synced   atomic.Int64
	mu       sync.Mutex
	err      error // the failed sync that stopped it
}

// DefaultGap is the pause between the groups of a sync when Gap is not
// given.
const DefaultGap = 200 * time.Millisecond

// Option changes how the stand-in syncs.
type Option func(*Sync)

// Gap sets the pause between the groups of a sync (package comment): the
// state ConfigMap is applied, then the workloads gap later, then the custom
// resources another gap later.
func Gap(d time.Duration) Option { return func(s *Sync) { s.gap = d } }

// Start syncs src into the release of helm (its Config, Release, Cluster
// and Timeout; its Source and Lease are not used) every interval, until
// Stop. What src holds when it starts counts as applied already. A sync
// that fails stops the stand-in; Err then reports it.
func Start(helm *canary.HelmStore, src Source, interval time.Duration, opts ...Option) (*Sync, error) {
	last, err := src()
	if err != nil {
		return nil, fmt.Errorf("the AppMesh to sync from: %w", err)
	}
	// A sync under way is finished, not cancelled, by Stop (as Argo CD
	// finishes an operation): the helm upgrade that ends it is never cut
	// short, and Synced counts it.
	ctx := context.Background()
	s := &Sync{stop: make(chan struct{}), done: make(chan struct{}), gap: DefaultGap}
	for _, o := range opts {
		o(s)
	}
	go func() {
		defer close(s.done)
		for {
			select {
			case <-s.stop:
				return
			case <-time.After(interval):
			}
			data, err := src()
			if err != nil || string(data) == string(last) {
				continue
			}
			am, err := appmesh.Decode(data)
			if err == nil {
				err = s.sync(ctx, helm, am)
			}
			if err != nil {
				s.mu.Lock()
				s.err = fmt.Errorf("the Argo CD stand-in failed to sync: %w", err)
				s.mu.Unlock()
				return
			}
			last = data
			s.synced.Add(1)
		}
	}()
	return s, nil
}

// Groups of a sync before the custom resources, by Helm's install order
// (gitops-engine sorts kinds by the same list).
const (
	groupConfig   = iota // kinds Helm installs before Services: ConfigMaps, Secrets, RBAC, ...
	groupWorkload        // Services and after: Deployments, HPAs, ...
	groupCustom          // kinds not in the list: custom resources
)

func group(kind string) int {
	switch i := slices.Index(releaseutil.InstallOrder, kind); {
	case i < 0:
		return groupCustom
	case i < slices.Index(releaseutil.InstallOrder, "Service"):
		return groupConfig
	default:
		return groupWorkload
	}
}

// sync applies am as Argo CD orders a sync (package comment).
func (s *Sync) sync(ctx context.Context, helm *canary.HelmStore, am *appmesh.AppMesh) error {
	cfg := helm.Config
	dep, err := cfg.Releases.Deployed(helm.Release)
	if err != nil {
		return fmt.Errorf("the last synced revision of release %s: %w", helm.Release, err)
	}
	// Render as the repo-server would: the chart and values of the
	// release through the post-renderer with the commit's AppMesh.
	up := action.NewUpgrade(cfg)
	up.Namespace = helm.Cluster.Namespace
	up.ReuseValues = true
	up.DryRun, up.DryRunOption = true, "client"
	up.PostRenderer = renderer.New(am, io.Discard)
	rendered, err := up.RunWithContext(ctx, helm.Release, dep.Chart, map[string]any{})
	if err != nil {
		return fmt.Errorf("render release %s: %w", helm.Release, err)
	}
	target, err := cfg.KubeClient.Build(strings.NewReader(rendered.Manifest), false)
	if err != nil {
		return fmt.Errorf("read the rendered manifest: %w", err)
	}
	current, err := cfg.KubeClient.Build(strings.NewReader(dep.Manifest), false)
	if err != nil {
		return fmt.Errorf("read the manifest of revision %d: %w", dep.Version, err)
	}
	// 1. Prune first.
	if gone := current.Difference(target); len(gone) > 0 {
		if _, errs := cfg.KubeClient.Delete(gone); len(errs) > 0 {
			return fmt.Errorf("prune: %w", errors.Join(errs...))
		}
	}
	// Helm's ownership metadata, as its upgrade sets it, so that the helm
	// upgrade of 4. takes these objects over unchanged.
	if err := target.Visit(helmOwned(helm.Release, helm.Cluster.Namespace)); err != nil {
		return err
	}
	// 2. and 3., a gap apart: created or patched from the last synced
	// revision's version of each object, as Helm patches; nothing deleted.
	for g := groupConfig; g < groupCustom; g++ {
		part := target.Filter(func(i *resource.Info) bool { return group(i.Mapping.GroupVersionKind.Kind) == g })
		if g > groupConfig {
			if err := pause(ctx, s.gap); err != nil {
				return err
			}
		}
		if len(part) == 0 {
			continue
		}
		was := current.Filter(func(i *resource.Info) bool { return part.Get(i) != nil })
		if _, err := cfg.KubeClient.Update(was, part, false); err != nil {
			return fmt.Errorf("apply %s: %w", kinds(part), err)
		}
	}
	if err := pause(ctx, s.gap); err != nil {
		return err
	}
	// 4. The custom resources, with a store of its own per sync: Argo CD
	// applies whatever the release runs, it checks no revision.
	release := &canary.HelmStore{Config: cfg, Release: helm.Release, Cluster: helm.Cluster, Timeout: helm.Timeout}
	_, err = release.Save(ctx, am, "sync")
	return err
}

// helmOwned sets the label and annotations a helm upgrade of release puts
// on every object it applies.
func helmOwned(release, namespace string) resource.VisitorFunc {
	return func(info *resource.Info, err error) error {
		if err != nil {
			return err
		}
		obj, err := meta.Accessor(info.Object)
		if err != nil {
			return fmt.Errorf("%s %s: %w", info.Mapping.GroupVersionKind.Kind, info.Name, err)
		}
		labels := obj.GetLabels()
		if labels == nil {
			labels = map[string]string{}
		}
		labels["app.kubernetes.io/managed-by"] = "Helm"
		obj.SetLabels(labels)
		anns := obj.GetAnnotations()
		if anns == nil {
			anns = map[string]string{}
		}
		anns["meta.helm.sh/release-name"] = release
		anns["meta.helm.sh/release-namespace"] = namespace
		obj.SetAnnotations(anns)
		return nil
	}
}

// kinds names the kinds of a part of a sync, for errors.
func kinds(rs kube.ResourceList) string {
	var out []string
	for _, i := range rs {
		if k := i.Mapping.GroupVersionKind.Kind; !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	return strings.Join(out, ", ")
}

func pause(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// Synced is the number of syncs so far: one per change of the source it
// saw (a change it did not see in time is counted with the next one).
func (s *Sync) Synced() int64 { return s.synced.Load() }

// Err is the failed sync that stopped the stand-in, or nil.
func (s *Sync) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Stop stops the stand-in once a sync under way has finished, and returns
// Err. It may be called more than once.
func (s *Sync) Stop() error {
	s.stopOnce.Do(func() { close(s.stop) })
	<-s.done
	return s.Err()
}

// Explain adds the stand-in's failure, when it had one, to err from the
// canary command that waited for it: the likelier cause.
func (s *Sync) Explain(err error) error {
	if serr := s.Err(); err != nil && serr != nil {
		return errors.Join(err, serr)
	}
	return err
}
