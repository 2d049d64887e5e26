// Package e2e runs the installer against the local control plane
// (ci/testcluster): real etcd, kube-apiserver, controller-manager, scheduler,
// kwok for Ready pods, and a real istiod (pilot-discovery) for injection and
// validation. Nothing is faked except the node (kwok).
package e2e

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/releaseutil"
	"istio.io/istio/pkg/config/mesh"
	corev1 "k8s.io/api/core/v1"
	apiextclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/restmapper"
	"sigs.k8s.io/yaml"

	"github.com/meshbundle/meshbundle/ci/testcluster"
	"github.com/meshbundle/meshbundle/installer"
)

// One control plane: pods become Ready through kwok, and the apiserver routes
// istio-system/istiod to the local istiod the test starts once the installer
// has put Istio's charts in place.
func TestMain(m *testing.M) {
	testcluster.Main(m, testcluster.WithPods(), testcluster.WithIstiodRoute())
}

type clients struct {
	kube   kubernetes.Interface
	dyn    dynamic.Interface
	apiext apiextclient.Interface
}

func newClients(t *testing.T, c *testcluster.Cluster) clients {
	t.Helper()
	kube, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	apiext, err := apiextclient.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	return clients{kube: kube, dyn: dyn, apiext: apiext}
}

// addonsChart is the observability worker's chart, installed by the addons
// phase like the CLI does from the repository root.
const addonsChart = "../../charts/meshbundle-addons"

// options for a run against the shared cluster, waiting for readiness.
func options(c *testcluster.Cluster, progress func(installer.Event)) installer.Options {
	return installer.Options{
		Source:     installer.Source{AddonsChart: addonsChart},
		Kubeconfig: c.Kubeconfig, Wait: true, Timeout: 3 * time.Minute, Progress: progress,
	}
}

func phaseStates(res *installer.Result) map[installer.Phase]installer.State {
	out := map[installer.Phase]installer.State{}
	for _, p := range res.Phases {
		out[p.Phase] = p.State
	}
	return out
}

func releaseActions(res *installer.Result) map[string]installer.ReleaseResult {
	out := map[string]installer.ReleaseResult{}
	for _, p := range res.Phases {
		for _, r := range p.Releases {
			out[r.Name] = r
		}
	}
	return out
}

// TestLifecycle walks one cluster through the add-cluster story in order:
// an interrupted install, a re-run that finishes (unlocking a release a kill
// left pending), a no-op re-run, Istio's own behaviour on the result, and an
// uninstall that leaves nothing.
func TestLifecycle(t *testing.T) {
	c := testcluster.Shared(t)
	cl := newClients(t, c)
	ctx := context.Background()

	// 1. Killed after the cni phase: cancel the context when cni ends.
	step(t, "interrupted after cni", func(t *testing.T) {
		start := time.Now()
		runCtx, cancel := context.WithCancel(ctx)
		defer cancel()
		res, err := installer.Install(runCtx, options(c, func(e installer.Event) {
			if e.Phase == installer.PhaseCNI && e.State != "" {
				cancel()
			}
		}))
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("install error %v, want context.Canceled", err)
		}
		st := phaseStates(res)
		if st[installer.PhaseBase] != installer.StateDone || st[installer.PhaseCNI] != installer.StateDone || st[installer.PhaseIstiod] != installer.StateFailed || st[installer.PhaseGateway] != installer.StatePending {
			t.Errorf("phase states %v: want base, cni done, istiod failed (cancelled), gateway pending", st)
		}
		if rel := lastRelease(t, c, "istio-system", installer.ReleaseIstiod); rel != nil {
			t.Errorf("istiod release exists after the interruption: %s", rel.Info.Status)
		}
		t.Logf("interrupted install took %s", time.Since(start).Round(time.Millisecond))
	})

	// 2. A kill in the middle of a Helm operation leaves the release
	// pending-upgrade; plain Helm then fails with "another operation is in
	// progress". Do to the record exactly what such a kill leaves.
	step(t, "release left pending", func(t *testing.T) {
		cfg, err := c.HelmConfig("istio-system")
		if err != nil {
			t.Fatal(err)
		}
		rel, err := cfg.Releases.Last(installer.ReleaseCNI)
		if err != nil {
			t.Fatal(err)
		}
		// Helm's upgrade writes the next revision pending-upgrade first.
		next := *rel
		next.Info = &release.Info{}
		*next.Info = *rel.Info
		next.Version++
		next.SetStatus(release.StatusPendingUpgrade, "simulated: process killed during upgrade")
		if err := cfg.Releases.Create(&next); err != nil {
			t.Fatal(err)
		}
	})

	// 3. The re-run completes, unlocking istio-cni; the local istiod starts
	// once its chart is installed, so the gateway pod gets injected.
	step(t, "re-run completes", func(t *testing.T) {
		start := time.Now()
		var istiodErr error
		started := false
		res, err := installer.Install(ctx, options(c, func(e installer.Event) {
			if e.Phase == installer.PhaseIstiod && e.State == installer.StateDone && !started {
				started = true
				istiodErr = c.StartIstiod(ctx)
			}
		}))
		if istiodErr != nil {
			t.Fatalf("start local istiod: %v", istiodErr)
		}
		if err != nil {
			t.Fatalf("install: %v\nistiod log: %s", err, c.IstiodLog())
		}
		t.Logf("completing install took %s (includes starting istiod)", time.Since(start).Round(time.Millisecond))
		for _, p := range res.Phases {
			if p.State == installer.StateFailed || p.State == installer.StatePending {
				t.Errorf("phase %s %s: %s", p.Phase, p.State, p.Message)
			}
		}
		// --wait waits for the CNI node agent as well as istiod (as
		// istioctl does): mesh pods need it on their node.
		for _, p := range res.Phases {
			if p.Phase == installer.PhaseWait && (!strings.Contains(p.Message, "daemonset istio-system/istio-cni-node") || !strings.Contains(p.Message, "deployment istio-system/istiod")) {
				t.Errorf("wait phase: %q, want the istio-cni-node DaemonSet and the istiod Deployment", p.Message)
			}
		}
		acts := releaseActions(res)
		if r := acts[installer.ReleaseCNI]; !r.Unlocked || r.Action != installer.ActionUpgraded {
			t.Errorf("istio-cni: %+v, want unlocked and upgraded", r)
		}
		if r := acts[installer.ReleaseBase]; r.Action != installer.ActionUnchanged {
			t.Errorf("istio-base: %+v, want unchanged (installed by the interrupted run)", r)
		}
		for _, name := range []string{installer.ReleaseIstiod, installer.ReleaseMesh, installer.ReleaseGateway, installer.ReleaseAddons} {
			if acts[name].Action != installer.ActionInstalled {
				t.Errorf("%s: %+v, want installed", name, acts[name])
			}
		}
		for _, ref := range []struct{ ns, name string }{{"istio-system", installer.ReleaseBase}, {"istio-system", installer.ReleaseCNI},
			{"istio-system", installer.ReleaseIstiod}, {"istio-system", installer.ReleaseMesh}, {installer.DefaultGatewayNamespace, installer.ReleaseGateway},
			{"istio-system", installer.ReleaseAddons}} {
			if rel := lastRelease(t, c, ref.ns, ref.name); rel == nil || rel.Info.Status != release.StatusDeployed {
				t.Errorf("release %s/%s not deployed: %v", ref.ns, ref.name, rel)
			}
		}
		crds := istioCRDs(t, cl)
		if len(crds) < 10 {
			t.Errorf("only %d Istio CRDs: %v", len(crds), crds)
		}
		for _, crd := range crds {
			if !crd.established {
				t.Errorf("CRD %s not established", crd.name)
			}
		}
		for _, d := range []struct{ ns, name string }{{"istio-system", "istiod"}, {installer.DefaultGatewayNamespace, installer.ReleaseGateway}} {
			if _, err := c.WaitDeploymentAvailable(ctx, d.ns, d.name, 5*time.Second); err != nil {
				t.Errorf("deployment %s/%s: %v", d.ns, d.name, err)
			}
		}
		rep, err := installer.Status(ctx, options(c, nil))
		if err != nil || !rep.Installed {
			t.Errorf("status: installed=%v err=%v %+v", rep != nil && rep.Installed, err, rep)
		}
	})

	// 4. Installing again writes nothing: same revisions, same
	// resourceVersion on every object of every release (and the Helm records).
	step(t, "re-install writes nothing", func(t *testing.T) {
		// managedFields times have one-second resolution: wait out the
		// second of the previous step's last write, so that a write of
		// this one shows as a new time.
		time.Sleep(1100 * time.Millisecond)
		before := objectVersions(t, c, cl)
		start := time.Now()
		// In-process, as an install operator calls it: a REST config, no
		// kubeconfig file.
		opts := options(c, nil)
		var reqs requestCounter
		opts.Kubeconfig, opts.RESTConfig = "", reqs.wrap(c.Config)
		res, err := installer.Install(ctx, opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("no-op re-install took %s: %d API requests, %d discovery reads, %d CRD reads", time.Since(start).Round(time.Millisecond),
			reqs.total.Load(), reqs.discovery.Load(), reqs.crdReads.Load())
		// One discovery cache for the run, read at connect and again in
		// verify; 8 releases, each record read (one list) and recognised
		// by its render digest without rendering, a metadata GET per
		// object to see it still exists (16 at a time) except the CRDs,
		// which discovery lists once Established, so no CRD is read at
		// all; one metadata list of CRDs to decide on the Gateway API's,
		// the lease, the readiness watches: REQUESTS measured. (Before
		// the render digest and the CRDs from discovery: 156, with every
		// CRD read three times; before the discovery cache was shared,
		// without the object check: about 20 requests per release.)
		if n := reqs.discovery.Load(); n > 3 {
			t.Errorf("%d discovery reads (GET /api), want at most 3: connect, Helm's capabilities, verify", n)
		}
		if n := reqs.crdReads.Load(); n > 0 {
			t.Errorf("%d CRD reads, want none: discovery lists the CRDs that exist and are Established", n)
		}
		if n := reqs.total.Load(); n > 100 {
			t.Errorf("%d API requests for a no-op re-run, want at most 100", n)
		}
		for name, r := range releaseActions(res) {
			if r.Action != installer.ActionUnchanged {
				t.Errorf("release %s: %s, want unchanged", name, r.Action)
			}
		}
		after := objectVersions(t, c, cl)
		writes := 0
		for key, v := range before {
			a := after[key]
			if a.rv == v.rv {
				continue
			}
			// The local istiod patches its validating webhook (CA bundle,
			// failure policy) on its own schedule, which can fall into
			// this window; only its writes are not the installer's.
			if w := v.changedWriters(a); len(w) > 0 && allIstiod(w) {
				t.Logf("%s changed by istiod (%v), not by the installer", key, w)
				continue
			}
			writes++
			t.Errorf("%s changed: resourceVersion %s -> %s, writers %v", key, v.rv, a.rv, v.changedWriters(a))
		}
		if len(before) < 50 {
			t.Errorf("only %d objects tracked; the comparison proves little", len(before))
		}
		t.Logf("%d objects, %d writes", len(before), writes)
	})

	step(t, "istio in the loop", func(t *testing.T) { istioInTheLoop(t, c, cl) })

	// The release record alone does not prove the cluster holds its
	// objects: one deleted behind Helm's back makes the re-run upgrade that
	// release (recreating it) and only that one.
	step(t, "deleted object restored", func(t *testing.T) {
		tel := schema.GroupVersionResource{Group: "telemetry.istio.io", Version: "v1", Resource: "telemetries"}
		if err := cl.dyn.Resource(tel).Namespace("istio-system").Delete(ctx, "mesh-default", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		before := lastRelease(t, c, "istio-system", installer.ReleaseMesh).Version
		res, err := installer.Install(ctx, options(c, nil))
		if err != nil {
			t.Fatal(err)
		}
		for name, r := range releaseActions(res) {
			want := installer.ActionUnchanged
			if name == installer.ReleaseMesh {
				want = installer.ActionUpgraded
				if !slices.Equal(r.Restored, []string{"Telemetry istio-system/mesh-default"}) {
					t.Errorf("%s restored %q, want the Telemetry", name, r.Restored)
				}
			}
			if r.Action != want {
				t.Errorf("release %s: %s, want %s", name, r.Action, want)
			}
		}
		if after := lastRelease(t, c, "istio-system", installer.ReleaseMesh).Version; after != before+1 {
			t.Errorf("%s revision %d -> %d, want one new revision", installer.ReleaseMesh, before, after)
		}
		if _, err := cl.dyn.Resource(tel).Namespace("istio-system").Get(ctx, "mesh-default", metav1.GetOptions{}); err != nil {
			t.Errorf("Telemetry not recreated: %v", err)
		}
	})

	// A re-run does not render a release whose record it wrote from the
	// same chart, values and Kubernetes version (installer.RenderDigestLabel).
	// Helm copies a release's labels to its next revision, so an upgrade by
	// another hand keeps the label; the record's own chart and values still
	// tell, and the re-run upgrades the release back to the plan.
	step(t, "another hand's upgrade undone", func(t *testing.T) {
		tel := schema.GroupVersionResource{Group: "telemetry.istio.io", Version: "v1", Resource: "telemetries"}
		cfg, err := c.HelmConfig("istio-system")
		if err != nil {
			t.Fatal(err)
		}
		last := lastRelease(t, c, "istio-system", installer.ReleaseMesh)
		vals := last.Config
		tracing, _ := vals["tracing"].(map[string]any)
		if tracing == nil {
			t.Fatalf("release %s values have no tracing: %v", installer.ReleaseMesh, vals)
		}
		tracing["samplingPercentage"] = 42
		up := action.NewUpgrade(cfg)
		up.Namespace = "istio-system"
		out, err := up.RunWithContext(ctx, installer.ReleaseMesh, last.Chart, vals)
		if err != nil {
			t.Fatal(err)
		}
		if out.Labels[installer.RenderDigestLabel] == "" || out.Labels[installer.RenderDigestLabel] != last.Labels[installer.RenderDigestLabel] {
			t.Fatalf("the other hand's revision has labels %v, want the installer's %s kept (the case this step is about)", out.Labels, installer.RenderDigestLabel)
		}
		res, err := installer.Install(ctx, options(c, nil))
		if err != nil {
			t.Fatal(err)
		}
		for name, r := range releaseActions(res) {
			want := installer.ActionUnchanged
			if name == installer.ReleaseMesh {
				want = installer.ActionUpgraded
			}
			if r.Action != want {
				t.Errorf("release %s: %s, want %s", name, r.Action, want)
			}
		}
		got, err := cl.dyn.Resource(tel).Namespace("istio-system").Get(ctx, "mesh-default", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		spec, _, _ := unstructured.NestedSlice(got.Object, "spec", "tracing")
		if len(spec) != 1 || spec[0].(map[string]any)["randomSamplingPercentage"] == int64(42) {
			t.Errorf("Telemetry tracing %v: the other hand's 42 %% is still there", spec)
		}
	})

	// An object edited in place is not seen by a re-run (it checks that
	// the objects exist); --reconcile upgrades every release, and Helm's
	// three-way merge puts the field back.
	step(t, "edit in place restored by reconcile", func(t *testing.T) {
		cms := cl.kube.CoreV1().ConfigMaps("istio-system")
		cm, err := cms.Get(ctx, "istio-cni-config", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		keys := slices.Sorted(maps.Keys(cm.Data))
		if len(keys) == 0 {
			t.Fatal("ConfigMap istio-system/istio-cni-config has no data")
		}
		key, was := keys[0], cm.Data[keys[0]]
		cm.Data[key] = "edited in place"
		if _, err := cms.Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		res, err := installer.Install(ctx, options(c, nil))
		if err != nil {
			t.Fatal(err)
		}
		if a := releaseActions(res)[installer.ReleaseCNI].Action; a != installer.ActionUnchanged {
			t.Errorf("plain re-run: %s %s, want unchanged (the edit is not looked for)", installer.ReleaseCNI, a)
		}
		opts := options(c, nil)
		opts.Reconcile = true
		if res, err = installer.Install(ctx, opts); err != nil {
			t.Fatal(err)
		}
		for name, r := range releaseActions(res) {
			if r.Action != installer.ActionUpgraded {
				t.Errorf("reconcile: release %s %s, want upgraded", name, r.Action)
			}
		}
		got, err := cms.Get(ctx, "istio-cni-config", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got.Data[key] != was {
			t.Errorf("after reconcile, istio-cni-config %s = %.80q, want the chart's %.80q", key, got.Data[key], was)
		}
	})

	// A changed setting upgrades exactly the releases it renders into.
	step(t, "changed sampling upgrades istiod and mesh only", func(t *testing.T) {
		opts := options(c, nil)
		opts.Set = []string{"meshConfig.defaultConfig.tracing.sampling=10"}
		start := time.Now()
		res, err := installer.Install(ctx, opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("upgrade took %s", time.Since(start).Round(time.Millisecond))
		want := map[string]installer.Action{
			installer.ReleaseBase: installer.ActionUnchanged, installer.ReleaseCNI: installer.ActionUnchanged,
			installer.ReleaseIstiod: installer.ActionUpgraded, installer.ReleaseMesh: installer.ActionUpgraded,
			installer.ReleaseGateway: installer.ActionUnchanged, installer.ReleaseAddons: installer.ActionUnchanged,
			installer.ReleaseGatewayAPI: installer.ActionUnchanged,
		}
		for name, r := range releaseActions(res) {
			if r.Action != want[name] {
				t.Errorf("release %s: %s, want %s", name, r.Action, want[name])
			}
		}
		tel := schema.GroupVersionResource{Group: "telemetry.istio.io", Version: "v1", Resource: "telemetries"}
		got, err := cl.dyn.Resource(tel).Namespace("istio-system").Get(ctx, "mesh-default", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		tracing, _, _ := unstructured.NestedSlice(got.Object, "spec", "tracing")
		if len(tracing) != 1 || tracing[0].(map[string]any)["randomSamplingPercentage"] != int64(10) {
			t.Errorf("Telemetry tracing after upgrade: %v, want randomSamplingPercentage 10", tracing)
		}
	})

	// 5. Uninstall in reverse; istiod is stopped when its release goes (as
	// its pod would be), so it cannot re-create what cleanup removes.
	step(t, "uninstall leaves nothing", func(t *testing.T) {
		start := time.Now()
		var stopErr error
		res, err := installer.Uninstall(ctx, options(c, func(e installer.Event) {
			if e.Phase == installer.PhaseIstiod && e.State != "" {
				stopErr = c.StopIstiod()
			}
		}))
		if err != nil {
			t.Fatal(err)
		}
		if stopErr != nil {
			t.Errorf("stop istiod: %v", stopErr)
		}
		t.Logf("uninstall (CRDs kept by default) took %s", time.Since(start).Round(time.Millisecond))
		for name, r := range releaseActions(res) {
			if r.Action != installer.ActionUninstalled {
				t.Errorf("release %s: %s, want uninstalled", name, r.Action)
			}
		}
		if crds := istioCRDs(t, cl); len(crds) < 10 {
			t.Errorf("uninstall left %d Istio CRDs, want all (kept by default)", len(crds))
		}
		if len(res.Kept) != 1 || res.Kept[0].Kind != "CustomResourceDefinition" || len(res.Kept[0].Names) < 10 {
			t.Errorf("kept %+v, want only the CRDs reported", res.Kept)
		}
		// A second uninstall finds no release and, asked to, removes the
		// CRDs (names from the base chart, since the release that listed
		// them is gone); no Istio config exists, so it is not refused.
		opts := options(c, nil)
		opts.DeleteCRDs = true
		res, err = installer.Uninstall(ctx, opts)
		if err != nil {
			t.Fatalf("second uninstall: %v", err)
		}
		for name, r := range releaseActions(res) {
			if r.Action != installer.ActionAbsent {
				t.Errorf("second uninstall, release %s: %s, want absent", name, r.Action)
			}
		}
		if len(res.Kept) != 0 {
			t.Errorf("second uninstall kept %+v, want nothing", res.Kept)
		}
		assertNothingLeft(t, c, cl)
	})
}

// step runs one stage of the story; later stages build on it, so a failure
// stops the test.
func step(t *testing.T, name string, fn func(t *testing.T)) {
	t.Helper()
	if !t.Run(name, fn) {
		t.FailNow()
	}
}

func lastRelease(t *testing.T, c *testcluster.Cluster, ns, name string) *release.Release {
	t.Helper()
	cfg, err := c.HelmConfig(ns)
	if err != nil {
		t.Fatal(err)
	}
	rel, err := cfg.Releases.Last(name)
	if err != nil {
		return nil
	}
	return rel
}

type crdState struct {
	name        string
	established bool
}

func istioCRDs(t *testing.T, cl clients) []crdState {
	t.Helper()
	list, err := cl.apiext.ApiextensionsV1().CustomResourceDefinitions().List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []crdState
	for _, crd := range list.Items {
		if !strings.HasSuffix(crd.Spec.Group, "istio.io") {
			continue
		}
		s := crdState{name: crd.Name}
		for _, cond := range crd.Status.Conditions {
			if cond.Type == "Established" && cond.Status == "True" {
				s.established = true
			}
		}
		out = append(out, s)
	}
	return out
}

// objectVersions reads the resourceVersion of every object in every
// installer release's manifest, plus the Helm release records.
// objectState is what objectVersions records of an object: its
// resourceVersion and, per field manager, when its managedFields entry was
// last written.
type objectState struct {
	rv      string
	writers map[string]string // "manager operation subresource" -> time
}

// changedWriters lists the field managers that wrote the object between s
// and after: an entry that is new or has a new time. (A manager whose
// fields another one took over keeps its time; its entry only shrinks.)
func (s objectState) changedWriters(after objectState) []string {
	var out []string
	for k, v := range after.writers {
		if s.writers[k] != v {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// istiodManager is the field manager istiod's own writes carry.
const istiodManager = "pilot-discovery"

func allIstiod(writers []string) bool {
	for _, w := range writers {
		if !strings.HasPrefix(w, istiodManager+" ") {
			return false
		}
	}
	return true
}

func objectVersions(t *testing.T, c *testcluster.Cluster, cl clients) map[string]objectState {
	t.Helper()
	out := map[string]objectState{}
	for _, ns := range []string{"istio-system", installer.DefaultGatewayNamespace} {
		secrets, err := cl.kube.CoreV1().Secrets(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "owner=helm"})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range secrets.Items {
			out["helm-record/"+ns+"/"+s.Name] = objectState{rv: s.ResourceVersion}
		}
	}
	forEachReleaseObject(t, c, cl, func(got *unstructured.Unstructured) {
		st := objectState{rv: got.GetResourceVersion(), writers: map[string]string{}}
		for _, mf := range got.GetManagedFields() {
			st.writers[mf.Manager+" "+string(mf.Operation)+" "+mf.Subresource] = fmt.Sprint(mf.Time)
		}
		out[fmt.Sprintf("%s/%s/%s", got.GetKind(), got.GetNamespace(), got.GetName())] = st
	})
	return out
}

// forEachReleaseObject reads, as the cluster has it now, every object of
// every deployed installer release (istio-system and the gateway
// namespace) and hands it to fn.
func forEachReleaseObject(t *testing.T, c *testcluster.Cluster, cl clients, fn func(*unstructured.Unstructured)) {
	t.Helper()
	ctx := context.Background()
	groups, err := restmapper.GetAPIGroupResources(cl.kube.Discovery())
	if err != nil {
		t.Fatal(err)
	}
	mapper := restmapper.NewDiscoveryRESTMapper(groups)
	for _, ns := range []string{"istio-system", installer.DefaultGatewayNamespace} {
		cfg, err := c.HelmConfig(ns)
		if err != nil {
			t.Fatal(err)
		}
		rels, err := cfg.Releases.ListDeployed()
		if err != nil {
			t.Fatal(err)
		}
		for _, rel := range rels {
			for _, doc := range releaseutil.SplitManifests(rel.Manifest) {
				var u unstructured.Unstructured
				if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil || len(u.Object) == 0 {
					continue
				}
				gvk := u.GroupVersionKind()
				m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
				if err != nil {
					t.Fatalf("%s: %v", gvk, err)
				}
				var got *unstructured.Unstructured
				if m.Scope.Name() == "namespace" {
					ons := u.GetNamespace()
					if ons == "" {
						ons = rel.Namespace
					}
					got, err = cl.dyn.Resource(m.Resource).Namespace(ons).Get(ctx, u.GetName(), metav1.GetOptions{})
				} else {
					got, err = cl.dyn.Resource(m.Resource).Get(ctx, u.GetName(), metav1.GetOptions{})
				}
				if err != nil {
					t.Fatalf("release %s object %s %s: %v", rel.Name, gvk.Kind, u.GetName(), err)
				}
				fn(got)
			}
		}
	}
}

// istioInTheLoop checks what the real istiod does with the installed
// configuration: CNI-mode injection with DNS capture, the gateway template,
// the mesh-wide Telemetry, and validation.
func istioInTheLoop(t *testing.T, c *testcluster.Cluster, cl clients) {
	ctx := context.Background()
	ns := c.Namespace(t, map[string]string{"istio-injection": "enabled"})
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: ns, Labels: map[string]string{"app": "app"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example/app:1"}}},
	}
	got, err := cl.kube.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create pod in injected namespace: %v", err)
	}
	t.Cleanup(func() { _ = cl.kube.CoreV1().Pods(ns).Delete(context.Background(), "app", metav1.DeleteOptions{}) })
	var proxy *corev1.Container
	for i, ctr := range got.Spec.Containers {
		if ctr.Name == "istio-proxy" {
			proxy = &got.Spec.Containers[i]
		}
	}
	if proxy == nil {
		t.Fatalf("pod not injected: containers %v", containerNames(got.Spec.Containers))
	}
	if proxy.Image != installer.PinnedHub+"/proxyv2:"+installer.PinnedTag {
		t.Errorf("sidecar image %q, want the pinned proxyv2", proxy.Image)
	}
	// CNI mode: Istio's template swaps istio-init (which programs iptables
	// from the pod, needing NET_ADMIN) for istio-validation, which only checks
	// the redirection the CNI plugin set up.
	validation := false
	for _, ic := range got.Spec.InitContainers {
		switch ic.Name {
		case "istio-init":
			t.Errorf("init container istio-init present (args %v): CNI mode must not program iptables from the pod", ic.Args)
		case "istio-validation":
			validation = true
			args := strings.Join(ic.Args, " ")
			if !strings.Contains(args, "--run-validation") || !strings.Contains(args, "--skip-rule-apply") {
				t.Errorf("istio-validation args %q: want --run-validation --skip-rule-apply", args)
			}
			if c := ic.SecurityContext.Capabilities; c != nil && len(c.Add) > 0 {
				t.Errorf("istio-validation adds capabilities %v; CNI mode needs none", c.Add)
			}
		}
	}
	if !validation {
		t.Errorf("no istio-validation init container (CNI-mode template): %v", got.Spec.InitContainers)
	}
	if got.Annotations["sidecar.istio.io/status"] == "" {
		t.Errorf("no sidecar.istio.io/status annotation: %v", got.Annotations)
	}
	if v := envOf(*proxy, "ISTIO_META_DNS_CAPTURE"); v != "true" {
		t.Errorf("proxy env ISTIO_META_DNS_CAPTURE = %q, want true", v)
	}
	// The proxy's mesh defaults as istiod injected them.
	pc := envOf(*proxy, "PROXY_CONFIG")
	if !strings.Contains(pc, `"sampling":1`) {
		t.Errorf("PROXY_CONFIG lacks tracing sampling 1: %s", pc)
	}

	// The gateway pod: gateway template, a single proxy container.
	pods, err := cl.kube.CoreV1().Pods(installer.DefaultGatewayNamespace).List(ctx, metav1.ListOptions{})
	if err != nil || len(pods.Items) == 0 {
		t.Fatalf("gateway pods: %v (%d)", err, len(pods.Items))
	}
	for _, p := range pods.Items {
		if names := containerNames(p.Spec.Containers); len(names) != 1 || names[0] != "istio-proxy" {
			t.Errorf("gateway pod %s containers %v, want [istio-proxy]", p.Name, names)
		}
		if p.Spec.Containers[0].Image != installer.PinnedHub+"/proxyv2:"+installer.PinnedTag {
			t.Errorf("gateway image %q", p.Spec.Containers[0].Image)
		}
		// The gateway template runs Envoy as a router ("proxy router"); the
		// sidecar template would run "proxy sidecar" and add init containers.
		if p.Annotations["inject.istio.io/templates"] != "gateway" {
			t.Errorf("gateway pod %s annotation inject.istio.io/templates = %q", p.Name, p.Annotations["inject.istio.io/templates"])
		}
		if args := strings.Join(p.Spec.Containers[0].Args, " "); !strings.HasPrefix(args, "proxy router") {
			t.Errorf("gateway pod %s proxy args %q, want the gateway template's \"proxy router\"", p.Name, args)
		}
		if len(p.Spec.InitContainers) != 0 {
			t.Errorf("gateway pod %s has init containers %v", p.Name, p.Spec.InitContainers)
		}
	}

	// The mesh config in the cluster parses and has the provider.
	cm, err := cl.kube.CoreV1().ConfigMaps("istio-system").Get(ctx, "istio", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	mc, err := mesh.ApplyMeshConfigDefaults(cm.Data["mesh"])
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, ep := range mc.GetExtensionProviders() {
		found = found || (ep.GetName() == installer.TracingProvider && ep.GetOpentelemetry().GetPort() == 4317)
	}
	if !found {
		t.Errorf("mesh config in cluster lacks the jaeger provider")
	}

	// Validation: istiod's webhook rejects an invalid Telemetry.
	tel := schema.GroupVersionResource{Group: "telemetry.istio.io", Version: "v1", Resource: "telemetries"}
	if _, err := cl.dyn.Resource(tel).Namespace("istio-system").Get(ctx, "mesh-default", metav1.GetOptions{}); err != nil {
		t.Errorf("mesh-wide Telemetry: %v", err)
	}
	// The CRD schema accepts this VirtualService; only Istio's validation
	// (istiod's webhook) knows "in valid!" is not a host.
	vs := schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1", Resource: "virtualservices"}
	bad := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
		"metadata": map[string]any{"name": "bad-host", "namespace": ns},
		"spec": map[string]any{
			"hosts": []any{"reviews"},
			"http":  []any{map[string]any{"route": []any{map[string]any{"destination": map[string]any{"host": "in valid!"}}}}},
		},
	}}
	_, err = cl.dyn.Resource(vs).Namespace(ns).Create(ctx, bad, metav1.CreateOptions{})
	if err == nil || !strings.Contains(err.Error(), "denied the request") {
		t.Errorf("invalid VirtualService: error %v, want a denial from istiod's validation webhook", err)
	} else {
		t.Logf("rejected as expected: %v", err)
	}
}

func containerNames(cs []corev1.Container) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Name)
	}
	return out
}

func envOf(c corev1.Container, name string) string {
	for _, e := range c.Env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}

// assertNothingLeft: no release record, CRD, webhook, cluster role, root
// certificate or namespace of the installation remains.
func assertNothingLeft(t *testing.T, c *testcluster.Cluster, cl clients) {
	t.Helper()
	ctx := context.Background()
	if crds := istioCRDs(t, cl); len(crds) != 0 {
		t.Errorf("%d Istio CRDs left, e.g. %s", len(crds), crds[0].name)
	}
	// Namespaces are removed by the namespace controller (Wait was set).
	for _, ns := range []string{"istio-system", installer.DefaultGatewayNamespace} {
		err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
			_, err := cl.kube.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
			return apierrors.IsNotFound(err), nil
		})
		if err != nil {
			t.Errorf("namespace %s still exists", ns)
		}
	}
	mwc, _ := cl.kube.AdmissionregistrationV1().MutatingWebhookConfigurations().List(ctx, metav1.ListOptions{})
	vwc, _ := cl.kube.AdmissionregistrationV1().ValidatingWebhookConfigurations().List(ctx, metav1.ListOptions{})
	crs, _ := cl.kube.RbacV1().ClusterRoles().List(ctx, metav1.ListOptions{})
	crbs, _ := cl.kube.RbacV1().ClusterRoleBindings().List(ctx, metav1.ListOptions{})
	var left []string
	for _, o := range mwc.Items {
		left = append(left, "MutatingWebhookConfiguration/"+o.Name)
	}
	for _, o := range vwc.Items {
		left = append(left, "ValidatingWebhookConfiguration/"+o.Name)
	}
	for _, o := range crs.Items {
		if strings.Contains(o.Name, "istio") {
			left = append(left, "ClusterRole/"+o.Name)
		}
	}
	for _, o := range crbs.Items {
		if strings.Contains(o.Name, "istio") {
			left = append(left, "ClusterRoleBinding/"+o.Name)
		}
	}
	cms, _ := cl.kube.CoreV1().ConfigMaps("").List(ctx, metav1.ListOptions{FieldSelector: "metadata.name=istio-ca-root-cert"})
	for _, o := range cms.Items {
		left = append(left, "ConfigMap/"+o.Namespace+"/"+o.Name)
	}
	if len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
	_ = c
}
