// Package installer installs Istio the way meshbundle's add-cluster pipeline
// needs it: an IstioOperator in (values/default.yaml + overlays), one Helm
// release per component out, rendered from the charts embedded in the
// istio.io/istio module with Istio's own IstioOperator → values translation.
// It is a library (an install operator can call it in-process); the
// `meshbundle install|upgrade|uninstall|status` commands are thin CLIs over it.
package installer

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage/driver"
	"istio.io/istio/istioctl/pkg/install/k8sversion"
	"k8s.io/client-go/rest"

	"github.com/meshbundle/meshbundle/failure"
	"github.com/meshbundle/meshbundle/installer/gatewayapi"
	"github.com/meshbundle/meshbundle/lease"
)

// DefaultTimeout bounds a whole install/uninstall run.
const DefaultTimeout = 5 * time.Minute

// ManagedLabel is on the namespaces the installer created (with
// CreatedByAnnotation); uninstall lists these, then checks each (see
// ownership.go).
const ManagedLabel = "meshbundle.dev/managed"

// Options are the installer's inputs.
type Options struct {
	Source
	// Kubeconfig and Context select the cluster (kubectl's defaults when empty).
	Kubeconfig string
	Context    string
	// RESTConfig, if set, is used instead of Kubeconfig/Context: for an
	// install operator calling the installer in-process.
	RESTConfig *rest.Config
	// DryRun renders every release and returns the manifests in
	// Result.Manifests; it never contacts a cluster.
	DryRun bool
	// Wait waits for istiod (before the gateway) and the gateway to be Available.
	Wait bool
	// Timeout bounds the whole run; 0 means DefaultTimeout.
	Timeout time.Duration
	// DeleteCRDs makes uninstall delete Istio's CRDs, and with them every
	// Istio config object in the cluster; refused while such objects exist
	// (other than the installer's own) unless Force. Default: CRDs kept.
	DeleteCRDs bool
	// Force lets DeleteCRDs delete the CRDs although Istio config exists.
	Force bool
	// Reconcile upgrades every deployed release, even one whose deployed
	// revision equals the plan: Helm's three-way merge then puts back
	// fields of its objects that were edited in place, which the default
	// check (the objects exist) does not see.
	Reconcile bool
	// Progress, if set, is called when each phase starts and ends.
	Progress func(Event)
}

// run is one operation in progress.
type run struct {
	opts  Options
	start time.Time
	res   *Result
	plan  *Plan
	cl    *cluster
	// deployed holds the release records this run converged to (read or
	// written), by namespace/name, so later phases need not read them again.
	deployed map[string]*release.Release
	// lease is the installer lease this run holds (nil for dry runs).
	lease *lease.Lease
	// stop cancels the run's context with a cause (the lease was lost).
	stop context.CancelCauseFunc
	// gatewayAPI is what the run does with the Gateway API CRDs, decided
	// after connecting (nil on dry runs: the release is rendered).
	gatewayAPI *gatewayapi.Decision
	// manifests caches what was read from release manifests, by manifest:
	// base's carries Istio's CRD schemas (most of its size), and the
	// release, base and verify phases all split and read it.
	manifests map[string]*manifestFacts
	// mu guards deployed and manifests: the base phase converges its
	// releases concurrently.
	mu sync.Mutex
}

// manifestFacts is what the run reads from one release manifest.
type manifestFacts struct {
	docs    []string    // Helm's split of the manifest (splitManifest)
	objects []objectRef // nil until asked for
}

func newRun(op string, opts Options) *run {
	return &run{opts: opts, start: time.Now(), res: &Result{Operation: op, DryRun: opts.DryRun}, deployed: map[string]*release.Release{}}
}

// phase runs fn as the named phase, recording state, objects and elapsed time.
func (r *run) phase(ctx context.Context, p Phase, fn func(pr *PhaseResult) error) error {
	pr := &PhaseResult{Phase: p, State: StateDone}
	r.res.Phases = append(r.res.Phases, *pr)
	idx := len(r.res.Phases) - 1
	r.emit(Event{Phase: p})
	began := time.Now()
	err := ctx.Err()
	if err == nil {
		err = fn(pr)
	}
	if err != nil {
		pr.State = StateFailed
		pr.Message = err.Error()
	}
	for _, rr := range pr.Releases {
		pr.Objects += rr.Objects
	}
	if err == nil && len(pr.Releases) > 0 && pr.State == StateDone {
		pr.State = StateUnchanged
		for _, rr := range pr.Releases {
			if rr.Action != ActionUnchanged && rr.Action != ActionAbsent && rr.Action != ActionExternal {
				pr.State = StateDone
			}
		}
	}
	pr.Elapsed = Duration(time.Since(began))
	r.res.Phases[idx] = *pr
	r.emit(Event{Phase: p, State: pr.State, Message: pr.Message, Objects: pr.Objects})
	return err
}

func (r *run) emit(e Event) {
	if r.opts.Progress != nil {
		e.Elapsed = time.Since(r.start)
		r.opts.Progress(e)
	}
}

// finish records the phases never reached and the total time.
func (r *run) finish(order []Phase, err error) (*Result, error) {
	seen := map[Phase]bool{}
	for _, p := range r.res.Phases {
		seen[p.Phase] = true
	}
	for _, p := range order {
		if !seen[p] {
			r.res.Phases = append(r.res.Phases, PhaseResult{Phase: p, State: StatePending})
		}
	}
	if r.plan != nil {
		r.res.Warnings = slices.Concat(r.plan.Warnings, r.res.Warnings)
	}
	r.res.Elapsed = Duration(time.Since(r.start))
	return r.res, err
}

// Install converges the cluster to the configuration: installs missing
// releases, upgrades changed ones, leaves equal ones alone, unlocks releases
// a killed run left pending. Re-running after any failure finishes the job.
func Install(ctx context.Context, opts Options) (*Result, error) {
	return operate(ctx, opts, "install", Phases, (*run).install)
}

// operate runs one operation (op) under opts.Timeout and reports its phases
// in order; a deadline becomes a TimeoutError naming the operation.
func operate(ctx context.Context, opts Options, op string, order []Phase, body func(*run, context.Context) error) (*Result, error) {
	if opts.Timeout == 0 {
		opts.Timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	r := newRun(op, opts)
	r.stop = stop
	err := body(r, ctx)
	var lost *LeaseLostError
	if cause := context.Cause(ctx); err != nil && errors.As(cause, &lost) {
		err = fmt.Errorf("%w (%w)", cause, err)
	}
	if r.lease != nil {
		if rerr := r.lease.Release(); rerr != nil {
			r.res.Warnings = append(r.res.Warnings, rerr.Error())
		}
	}
	return r.finish(order, classify(err, op))
}

// connect reaches the cluster and takes the installer lease for the run:
// nothing is changed before both succeeded.
func (r *run) connect(ctx context.Context) error {
	var err error
	if r.cl, err = connect(r.opts); err != nil {
		return err
	}
	r.lease, err = r.cl.acquireLease(ctx, r.res.Operation, r.stop)
	if err != nil {
		return err
	}
	if took := r.lease.TookOver(); took != "" {
		r.res.Warnings = append(r.res.Warnings, took)
	}
	return nil
}

func (r *run) install(ctx context.Context) error {
	if err := r.phase(ctx, PhaseValidate, func(pr *PhaseResult) error {
		plan, err := NewPlan(r.opts.Source)
		if err != nil {
			return err
		}
		r.plan = plan
		pr.Message = fmt.Sprintf("%d releases planned", len(plan.Releases))
		if r.opts.DryRun {
			return nil
		}
		if err := r.connect(ctx); err != nil {
			return err
		}
		return r.decideGatewayAPI(ctx)
	}); err != nil {
		return err
	}
	for _, p := range Phases[1:] {
		var err error
		switch p {
		case PhaseWait:
			err = r.phase(ctx, p, func(pr *PhaseResult) error { return r.waitPhase(ctx, pr, PhaseCNI, PhaseIstiod, PhaseZtunnel) })
		case PhaseVerify:
			err = r.phase(ctx, p, func(pr *PhaseResult) error { return r.verify(ctx, pr) })
		case PhaseBase:
			err = r.phase(ctx, p, func(pr *PhaseResult) error {
				if err := r.releasesPhase(ctx, pr, p); err != nil || r.opts.DryRun {
					return err
				}
				names, err := r.baseCRDs()
				if err != nil {
					return err
				}
				if !wroteAny(pr.Releases) {
					// Nothing written: the revisions' CRDs were found
					// served when their objects were checked; the same
					// discovery says so again without a request.
					if unlisted, err := r.cl.crdsInDiscovery(names); err == nil && len(unlisted) == 0 {
						return nil
					}
				}
				return r.crdsServed(ctx, names)
			})
		default:
			err = r.phase(ctx, p, func(pr *PhaseResult) error { return r.releasesPhase(ctx, pr, p) })
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// wroteAny says whether any of the releases was installed or upgraded.
func wroteAny(rels []ReleaseResult) bool {
	return slices.ContainsFunc(rels, func(rr ReleaseResult) bool {
		return rr.Action == ActionInstalled || rr.Action == ActionUpgraded
	})
}

// releasesPhase converges (or, dry-run, renders) the phase's releases.
func (r *run) releasesPhase(ctx context.Context, pr *PhaseResult, p Phase) error {
	rels := r.plan.releasesIn(p)
	if len(rels) == 0 {
		pr.State = StateSkipped
		pr.Message = "skipped: nothing configured"
		if p == PhaseAddons {
			pr.Message = r.plan.AddonsSkipped
		}
		return nil
	}
	if p == PhaseBase && !r.opts.DryRun {
		return r.convergeConcurrently(ctx, pr, rels)
	}
	for _, rel := range rels {
		var rr ReleaseResult
		var err error
		if r.gatewayAPIExternal(rel) {
			pr.Releases = append(pr.Releases, r.result(rel, ActionExternal, nil))
			continue
		}
		if r.opts.DryRun {
			rr, err = r.render(rel)
		} else {
			var cfg *action.Configuration
			if cfg, err = r.cl.helmConfig(rel.Namespace); err == nil {
				rr, err = r.converge(ctx, rel, cfg)
			}
		}
		pr.Releases = append(pr.Releases, rr)
		if err != nil {
			return fmt.Errorf("release %s/%s: %w", rel.Namespace, rel.Name, err)
		}
	}
	if p == PhaseGateway && r.opts.Wait && !r.opts.DryRun {
		for _, rel := range rels {
			if err := r.waitDeployment(ctx, rel.Namespace, rel.Workload); err != nil {
				return err
			}
		}
	}
	return nil
}

// convergeConcurrently converges the base phase's releases at the same
// time: istio-base and gateway-api-crds hold CRDs, cluster roles and a
// webhook configuration, none reads another's objects, and most of each
// one's time is Helm's client-side work on ~1 MB of CRD schemas and the API
// server creating the CRDs, which overlap. Each has its own Helm client;
// both run to the end even if one fails (stopping a Helm action half-way
// leaves its release pending), and the first error in plan order is
// returned.
func (r *run) convergeConcurrently(ctx context.Context, pr *PhaseResult, rels []PlannedRelease) error {
	results := make([]ReleaseResult, len(rels))
	errs := make([]error, len(rels))
	var wg sync.WaitGroup
	for i, rel := range rels {
		if r.gatewayAPIExternal(rel) {
			results[i] = r.result(rel, ActionExternal, nil)
			continue
		}
		// The first uses the namespace's cached client; the others get
		// their own (a Helm client's capabilities are not safe to share).
		cfg, err := r.cl.helmConfig(rel.Namespace)
		if i > 0 && err == nil {
			cfg, err = r.cl.newHelmConfig(rel.Namespace)
		}
		if err != nil {
			results[i], errs[i] = r.result(rel, "", nil), err
			continue
		}
		wg.Go(func() { results[i], errs[i] = r.converge(ctx, rel, cfg) })
	}
	wg.Wait()
	pr.Releases = append(pr.Releases, results...)
	for i, err := range errs {
		if err != nil {
			return fmt.Errorf("release %s/%s: %w", rels[i].Namespace, rels[i].Name, err)
		}
	}
	return nil
}

func (p *Plan) releasesIn(phase Phase) []PlannedRelease {
	var out []PlannedRelease
	for _, r := range p.Releases {
		if r.Phase == phase {
			out = append(out, r)
		}
	}
	return out
}

// RenderKubeVersion is the Kubernetes version a dry run renders for: the one
// `istioctl manifest generate` assumes without a cluster (Istio's minimum).
func RenderKubeVersion() *chartutil.KubeVersion {
	v := fmt.Sprintf("v1.%d.0", k8sversion.MinK8SVersion)
	return &chartutil.KubeVersion{Version: v, Major: "1", Minor: fmt.Sprint(k8sversion.MinK8SVersion)}
}

// render is the dry run of one release: Helm's client-only install, exactly
// what `helm template` does, for the Kubernetes version istioctl assumes.
func (r *run) render(rel PlannedRelease) (ReleaseResult, error) {
	out, err := renderRelease(rel, RenderKubeVersion(), nil, false)
	if err != nil {
		return r.result(rel, ActionRendered, nil), &failure.BadInputError{Object: "release " + rel.Namespace + "/" + rel.Name, Err: err, Fix: "correct the chart values the message names in the IstioOperator (-f, --set)"}
	}
	r.res.Rendered = append(r.res.Rendered, RenderedRelease{Name: rel.Name, Namespace: rel.Namespace, Chart: chartRef(rel), Manifest: out.Manifest})
	return r.result(rel, ActionRendered, out), nil
}

// renderRelease renders a release client-side. isUpgrade matters: Istio's
// webhook templates only write failurePolicy on first install.
func renderRelease(rel PlannedRelease, kv *chartutil.KubeVersion, apis chartutil.VersionSet, isUpgrade bool) (*release.Release, error) {
	inst := action.NewInstall(&action.Configuration{Log: func(string, ...any) {}})
	inst.DryRun, inst.ClientOnly, inst.Replace, inst.IsUpgrade = true, true, true, isUpgrade
	inst.ReleaseName, inst.Namespace = rel.Name, rel.Namespace
	inst.KubeVersion, inst.APIVersions = kv, apis
	out, err := inst.Run(rel.Chart, rel.Values)
	if err != nil {
		return nil, fmt.Errorf("render chart %s for release %s/%s: %w", rel.Chart.Name(), rel.Namespace, rel.Name, err)
	}
	return out, nil
}

func chartRef(rel PlannedRelease) string {
	return rel.Chart.Name() + "-" + rel.Chart.Metadata.Version
}

func (r *run) result(rel PlannedRelease, a Action, out *release.Release) ReleaseResult {
	rr := ReleaseResult{Name: rel.Name, Namespace: rel.Namespace, Chart: chartRef(rel), Action: a}
	if out != nil {
		rr.Revision = out.Version
		rr.Objects = r.countObjects(out.Manifest)
	}
	return rr
}

// facts returns the cached facts of a manifest, creating the entry; the
// caller holds r.mu.
func (r *run) facts(manifest string) *manifestFacts {
	if r.manifests == nil {
		r.manifests = map[string]*manifestFacts{}
	}
	f, ok := r.manifests[manifest]
	if !ok {
		f = &manifestFacts{docs: splitManifest(manifest)}
		r.manifests[manifest] = f
	}
	return f
}

func (r *run) countObjects(manifest string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.facts(manifest).docs)
}

// objectsOf is manifestObjects, parsed once per manifest in a run.
func (r *run) objectsOf(manifest string) ([]objectRef, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f := r.facts(manifest)
	if f.objects == nil {
		objs, err := manifestObjects(f.docs)
		if err != nil {
			return nil, err
		}
		f.objects = append([]objectRef{}, objs...) // non-nil: parsed
	}
	return f.objects, nil
}

// converge makes one release match the plan, through cfg (a Helm client
// for its namespace that no other converge uses at the same time).
func (r *run) converge(ctx context.Context, rel PlannedRelease, cfg *action.Configuration) (ReleaseResult, error) {
	if err := r.ensureNamespace(ctx, rel.Namespace); err != nil {
		return r.result(rel, "", nil), err
	}
	unlocked, last, err := r.lease.Unlock(cfg, rel.Name)
	if err != nil {
		return r.result(rel, "", nil), err
	}
	var restored []string
	// The API versions Helm's install or upgrade renders with now: the
	// run's discovery, read again after base's CRDs are served.
	apis, err := action.GetVersionSet(r.cl.disco.client)
	if err != nil {
		return r.result(rel, "", nil), fmt.Errorf("list API versions: %w", err)
	}
	digest, err := renderDigest(rel.Chart, rel.Values, rel.Name, rel.Namespace, r.cl.kubeVersion, apis)
	if err != nil {
		return r.result(rel, "", nil), err
	}
	labels := map[string]string{RenderDigestLabel: digest}
	// A release that never deployed (a first install killed or failed) is
	// installed again, replacing the failed record: an upgrade would render
	// it as an upgrade (Istio's webhook templates differ) and so leave other
	// objects than a clean install.
	replace := false
	if last != nil && last.Info.Status != release.StatusDeployed {
		if replace, err = neverDeployed(cfg, rel.Name); err != nil {
			return r.result(rel, "", nil), err
		}
	}
	if last == nil || replace {
		inst := action.NewInstall(cfg)
		inst.ReleaseName, inst.Namespace, inst.Timeout, inst.Replace, inst.Labels = rel.Name, rel.Namespace, r.opts.Timeout, replace, labels
		out, err := inst.RunWithContext(ctx, rel.Chart, rel.Values)
		r.record(rel, out, err)
		rr := r.result(rel, ActionInstalled, out)
		rr.Unlocked = unlocked
		return rr, err
	}
	// Render as the deployed revision was rendered (by an install or an
	// upgrade) and compare: equal means no write at all. A revision this
	// installer wrote from the same chart, values and Kubernetes version
	// renders the same, so it is not rendered again (sameRender).
	if last.Info.Status == release.StatusDeployed && !r.opts.Reconcile {
		same, err := sameRender(last, digest, r.cl.kubeVersion, apis)
		if err != nil {
			return r.result(rel, "", nil), err
		}
		if !same {
			planned, err := renderRelease(rel, r.cl.kubeVersion, apis, !renderedByInstall(last))
			if err != nil {
				return r.result(rel, "", nil), err
			}
			// Objects decide, not values: Istio's translation hands every chart
			// the whole values tree, so a mesh config change would otherwise
			// write new revisions of istio-base and istio-cni that change nothing.
			same = planned.Manifest == last.Manifest && planned.Chart.Metadata.Version == last.Chart.Metadata.Version
		}
		if same {
			missing, err := r.missingObjects(ctx, rel.Namespace, last.Manifest)
			if err != nil {
				return r.result(rel, "", nil), fmt.Errorf("check the objects of revision %d are in the cluster: %w", last.Version, err)
			}
			if len(missing) == 0 {
				r.record(rel, last, nil)
				rr := r.result(rel, ActionUnchanged, last)
				rr.Unlocked = unlocked
				return rr, nil
			}
			// Helm's upgrade creates the objects that do not exist.
			restored = missing
		}
	}
	up := action.NewUpgrade(cfg)
	up.Namespace, up.Timeout, up.MaxHistory, up.Labels = rel.Namespace, r.opts.Timeout, 10, labels
	out, err := up.RunWithContext(ctx, rel.Name, rel.Chart, rel.Values)
	r.record(rel, out, err)
	rr := r.result(rel, ActionUpgraded, out)
	rr.Unlocked, rr.Restored = unlocked, restored
	return rr, err
}

// neverDeployed says whether no revision of the release was ever deployed.
func neverDeployed(cfg *action.Configuration, name string) (bool, error) {
	_, err := cfg.Releases.Deployed(name)
	if errors.Is(err, driver.ErrNoDeployedReleases) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("read release history: %w", err)
	}
	return false, nil
}

// renderedByInstall says whether Helm rendered the revision as an install
// (revision 1, or a failed first install replaced) rather than an upgrade.
func renderedByInstall(rel *release.Release) bool {
	return rel.Version == 1 || rel.Info.Description == "Install complete"
}

// record remembers the release record a converge left deployed.
func (r *run) record(rel PlannedRelease, out *release.Release, err error) {
	if err == nil && out != nil {
		r.mu.Lock()
		r.deployed[rel.Namespace+"/"+rel.Name] = out
		r.mu.Unlock()
	}
}

// baseCRDs names the CRDs of the base phase's releases this run deployed
// (Istio's, and the Gateway API's unless the cluster has them from someone
// else).
func (r *run) baseCRDs() ([]string, error) {
	var names []string
	for _, rel := range r.plan.releasesIn(PhaseBase) {
		if r.gatewayAPIExternal(rel) {
			continue
		}
		out := r.deployed[rel.Namespace+"/"+rel.Name]
		if out == nil {
			return nil, fmt.Errorf("release %s/%s: not deployed by this run", rel.Namespace, rel.Name)
		}
		n, err := r.crdNamesOf(out.Manifest)
		if err != nil {
			return nil, err
		}
		names = append(names, n...)
	}
	return names, nil
}

// crdNamesOf is crdNames, parsed once per manifest in a run.
func (r *run) crdNamesOf(manifest string) ([]string, error) {
	objs, err := r.objectsOf(manifest)
	if err != nil {
		return nil, err
	}
	return crdNamesIn(objs), nil
}

// ensureNamespace creates a release namespace, recording that the installer
// created it (uninstall deletes only such namespaces, and only when empty of
// anything else).
func (r *run) ensureNamespace(ctx context.Context, name string) error {
	return r.cl.createNamespace(ctx, name, CreatorInstaller)
}
