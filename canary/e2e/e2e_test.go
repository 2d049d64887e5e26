// Package e2e runs canary lifecycles in helm mode on the local control
// plane (ci/testcluster with a real istiod: the copy's pods are really
// injected and istiod's validation webhook checks every step's Istio
// objects; kwok makes pods Ready).
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"
	"helm.sh/helm/v3/pkg/action"
	networking "istio.io/api/networking/v1alpha3"
	istionet "istio.io/client-go/pkg/apis/networking/v1"
	istioclient "istio.io/client-go/pkg/clientset/versioned"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/meshbundle/meshbundle/appmesh"
	"github.com/meshbundle/meshbundle/canary"
	"github.com/meshbundle/meshbundle/ci/argocdstandin"
	"github.com/meshbundle/meshbundle/ci/testcluster"
	"github.com/meshbundle/meshbundle/failure"
	"github.com/meshbundle/meshbundle/renderer"
)

func TestMain(m *testing.M) { testcluster.Main(m, testcluster.WithIstiod()) }

const (
	app      = "example-app"
	newImage = "registry.k8s.io/e2e-test-images/agnhost:2.54"
	// settle is the canary's settle delay here: no traffic runs in these
	// tests (ci/dataplane/e2e has it).
	settle = 500 * time.Millisecond
)

// install installs charts/example-app through the renderer with routes
// for web and api, and returns the helm store and cluster of the app.
func install(t *testing.T, c *testcluster.Cluster) (*canary.HelmStore, *canary.Cluster, string) {
	t.Helper()
	ns := c.Namespace(t, nil)
	am := &appmesh.AppMesh{APIVersion: appmesh.APIVersion, Kind: appmesh.Kind,
		Metadata: appmesh.Metadata{Name: app, Namespace: ns},
		Spec: appmesh.Spec{Ports: appmesh.Ports{Mode: appmesh.PortModeFix},
			Routes: []appmesh.Route{{Service: "web"}, {Service: "api"}}}}
	cfg := c.InstallExampleApp(t, am)
	kc, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	cl := &canary.Cluster{Client: kc, Namespace: ns, App: app}
	if _, err := c.WaitDeploymentAvailable(context.Background(), ns, "web", 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	// The team's AppMesh file, the one its own helm upgrade passes to
	// --config: every canary step is recorded there (docs/canary.md).
	data, err := appmesh.Marshal(am)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "appmesh.yaml")
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return &canary.HelmStore{Config: cfg, Release: app, Cluster: cl, Timeout: time.Minute, Source: &canary.FileStore{Path: file, App: app}}, cl, ns
}

// fileOf is the team's AppMesh file of a store made by install.
func fileOf(store *canary.HelmStore) string { return store.Source.(*canary.FileStore).Path }

// routineUpgrade is the team's own pipeline: `helm upgrade` of the release
// with the chart (and values) through the post-renderer with the team's
// AppMesh file, not through meshbundle canary. It returns the renderer's
// warnings.
func routineUpgrade(t *testing.T, store *canary.HelmStore, values map[string]any) string {
	t.Helper()
	am, err := appmesh.Load(fileOf(store))
	if err != nil {
		t.Fatal(err)
	}
	ch := testcluster.ExampleAppChart(t)
	var warn bytes.Buffer
	up := action.NewUpgrade(store.Config)
	up.Namespace = store.Cluster.Namespace
	up.PostRenderer = renderer.New(am, &warn)
	up.Timeout = time.Minute
	if _, err := up.RunWithContext(context.Background(), app, ch, values); err != nil {
		t.Fatalf("routine helm upgrade: %v", err)
	}
	return warn.String()
}

func run(t *testing.T, store canary.Store, cl *canary.Cluster, req canary.Request) {
	t.Helper()
	start := time.Now()
	var progress bytes.Buffer
	res, err := canary.Run(context.Background(), store, cl, req, canary.Options{Wait: true, Timeout: 90 * time.Second, Progress: &progress, Interval: 200 * time.Millisecond, Settle: settle})
	if err != nil {
		t.Fatalf("%s: %v\n%s", req.Op, err, progress.String())
	}
	t.Logf("%s: %d steps in %s", req.Op, len(res.Applied), time.Since(start).Round(time.Millisecond))
}

var start = canary.Request{Op: canary.OpStart, Target: "web", Version: "v2", Image: newImage}

// TestHelmPromote: start → weight 10 → weight 50 → promote. The copy's pods
// are injected; the weights reach the cluster's VirtualService and the
// status; after promote only the new version runs and no canary object is
// left.
func TestHelmPromote(t *testing.T) {
	c := testcluster.Shared(t)
	store, cl, ns := install(t, c)
	ic, err := istioclient.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}

	run(t, store, cl, start)
	cp := deployment(t, c, ns, "web-v2")
	if cp.Spec.Selector.MatchLabels["version"] != "v2" || cp.Spec.Template.Spec.Containers[0].Image != newImage {
		t.Errorf("copy selector %v image %s, want version v2 and %s", cp.Spec.Selector.MatchLabels, cp.Spec.Template.Spec.Containers[0].Image, newImage)
	}
	if n := injectedPods(t, c, ns, "v2"); n == 0 {
		t.Error("no pod of the copy carries istio-proxy: the webhook did not inject")
	}
	stable := deployment(t, c, ns, "web")
	if _, ok := stable.Spec.Selector.MatchLabels["version"]; ok {
		t.Errorf("stable selector changed: %v", stable.Spec.Selector.MatchLabels)
	}

	run(t, store, cl, canary.Request{Op: canary.OpWeight, Weight: 10})
	if got := vsWeights(t, c, ns); !equalWeights(got, map[string]int32{"stable": 90, "v2": 10}) {
		t.Errorf("VirtualService weights %v, want stable 90 v2 10", got)
	}
	st, err := canary.ReadStatus(context.Background(), cl, ic)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Running || st.Phase != "Progressing" || len(st.Versions) != 2 {
		t.Errorf("status %+v, want a running canary with two versions", st)
	}
	for _, v := range st.Versions {
		if v.Ready != v.Replicas || v.Ready == 0 {
			t.Errorf("status version %s: %d/%d ready", v.Version, v.Ready, v.Replicas)
		}
	}

	// The CLI, as a user runs it: helm mode, then status as JSON.
	mb := buildCLI(t)
	cli(t, mb, "canary", "weight", app, "50", "--release", app, "--file", fileOf(store), "-n", ns, "--kubeconfig", c.Kubeconfig, "--timeout", "90s")
	var cst canary.Status
	if err := json.Unmarshal([]byte(cli(t, mb, "canary", "status", app, "--release", app, "-n", ns, "--kubeconfig", c.Kubeconfig, "-o", "json")), &cst); err != nil {
		t.Fatal(err)
	}
	weights := map[string]int32{}
	for _, v := range cst.Versions {
		weights[v.Version] = v.Weight
	}
	if !cst.Running || !equalWeights(weights, map[string]int32{"stable": 50, "v2": 50}) || !strings.Contains(cst.LastStep, "canary web v2: weight 50%") {
		t.Errorf("meshbundle canary status -o json: %+v", cst)
	}
	if got := vsWeights(t, c, ns); !equalWeights(got, map[string]int32{"stable": 50, "v2": 50}) {
		t.Errorf("VirtualService weights %v, want 50/50", got)
	}

	run(t, store, cl, canary.Request{Op: canary.OpPromote})
	if err := c.Client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "web-v2"}, &appsv1.Deployment{}); !apierrors.IsNotFound(err) {
		t.Errorf("copy web-v2 after promote: %v, want NotFound", err)
	}
	stable = deployment(t, c, ns, "web")
	if img := stable.Spec.Template.Spec.Containers[0].Image; img != newImage {
		t.Errorf("stable web image %s, want %s", img, newImage)
	}
	testcluster.WaitFor(t, "only new web pods", func() bool {
		pods := webPods(t, c, ns)
		return len(pods) > 0 && !slices.ContainsFunc(pods, func(p corev1.Pod) bool {
			return p.Spec.Containers[0].Image != newImage || p.Labels["version"] != "v2"
		})
	})
	if got := vsWeights(t, c, ns); len(got) != 1 {
		t.Errorf("VirtualService destinations after promote %v, want one", got)
	}
	st, err = canary.ReadStatus(context.Background(), cl, ic)
	if err != nil {
		t.Fatal(err)
	}
	if st.Running || st.Phase != "" {
		t.Errorf("status after promote %+v, want no canary", st)
	}
}

// TestHelmRoutineUpgrade: the team's routine helm upgrade with its own
// AppMesh file, during a canary and after a promotion, neither drops the
// canary nor reverts the promoted image (the canary CLI recorded both in
// that file); once the chart itself ships another image, the chart wins
// and the stale promotion is reported.
func TestHelmRoutineUpgrade(t *testing.T) {
	c := testcluster.Shared(t)
	store, cl, ns := install(t, c)
	ic, err := istioclient.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	run(t, store, cl, start)
	run(t, store, cl, canary.Request{Op: canary.OpWeight, Weight: 10})
	routineUpgrade(t, store, map[string]any{})
	if got := vsWeights(t, c, ns); !equalWeights(got, map[string]int32{"stable": 90, "v2": 10}) {
		t.Errorf("after a routine upgrade at 10%%: VirtualService weights %v, want stable 90 v2 10", got)
	}
	deployment(t, c, ns, "web-v2") // fails the test when the copy is gone

	run(t, store, cl, canary.Request{Op: canary.OpPromote})
	routineUpgrade(t, store, map[string]any{})
	if img := deployment(t, c, ns, "web").Spec.Template.Spec.Containers[0].Image; img != newImage {
		t.Errorf("after a routine upgrade following promote: web runs %s, want the promoted %s", img, newImage)
	}

	// The team's next release: the chart renders agnhost:2.55 now.
	const next = "registry.k8s.io/e2e-test-images/agnhost:2.55"
	warn := routineUpgrade(t, store, map[string]any{"image": map[string]any{"tag": "2.55"}})
	if img := deployment(t, c, ns, "web").Spec.Template.Spec.Containers[0].Image; img != next {
		t.Errorf("after the chart moved to %s: web runs %s, want the chart's image", next, img)
	}
	if !strings.Contains(warn, "spec.promoted[0] is stale") {
		t.Errorf("renderer warnings %q lack the stale promotion", warn)
	}
	st, err := canary.ReadStatus(context.Background(), cl, ic)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Promoted) != 1 || !st.Promoted[0].Stale || st.Promoted[0].Running != next {
		t.Errorf("status promoted %+v, want one stale entry running %s", st.Promoted, next)
	}

	// A file that disagrees with the release (here: the promotion dropped by
	// hand while the release still records it) is refused, nothing changed.
	data, err := os.ReadFile(fileOf(store))
	if err != nil {
		t.Fatal(err)
	}
	am, err := appmesh.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	am.Spec.Promoted = nil
	out, _ := appmesh.Marshal(am)
	if err := os.WriteFile(fileOf(store), out, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = canary.Run(context.Background(), store, cl, start, canary.Options{Wait: true, Timeout: 10 * time.Second})
	var conflict *canary.ConflictError
	if !errors.As(err, &conflict) || !strings.Contains(err.Error(), "the file and the release disagree") {
		t.Errorf("start with a file that disagrees with the release: %v, want a refusal", err)
	}
}

// TestHelmAbort: start → weight 10 → abort leaves the app's Deployments,
// VirtualServices and DestinationRules as they were before start; a weight
// step interrupted between the file and the upgrade resumes when run again.
func TestHelmAbort(t *testing.T) {
	c := testcluster.Shared(t)
	store, cl, ns := install(t, c)
	before := snapshot(t, c, ns)
	run(t, store, cl, start)

	// `canary weight 10` killed after it recorded the step in the AppMesh
	// file, before its helm upgrade: running it again applies the step.
	killed := &canary.FileStore{Path: fileOf(store), App: app}
	cur, err := killed.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	plan, err := canary.NewPlan(cur, canary.Request{Op: canary.OpWeight, Weight: 10})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := killed.Save(context.Background(), plan.Steps[0].Config, plan.Steps[0].Message); err != nil {
		t.Fatal(err)
	}
	run(t, store, cl, canary.Request{Op: canary.OpWeight, Weight: 10})
	if got := vsWeights(t, c, ns); !equalWeights(got, map[string]int32{"stable": 90, "v2": 10}) {
		t.Errorf("after the interrupted weight 10 ran again: VirtualService weights %v, want stable 90 v2 10", got)
	}

	run(t, store, cl, canary.Request{Op: canary.OpAbort})
	after := snapshot(t, c, ns)
	for name, spec := range before.deployments {
		if !equality.Semantic.DeepEqual(spec, after.deployments[name]) {
			t.Errorf("Deployment %s differs after abort:\nbefore %+v\nafter  %+v", name, spec.Template.Labels, after.deployments[name].Template.Labels)
		}
	}
	if len(after.deployments) != len(before.deployments) {
		t.Errorf("Deployments after abort: %d, before %d", len(after.deployments), len(before.deployments))
	}
	if !equality.Semantic.DeepEqual(before.istio, after.istio) {
		t.Errorf("Istio objects differ after abort:\nbefore %v\nafter  %v", before.istio, after.istio)
	}
}

type state struct {
	deployments map[string]appsv1.DeploymentSpec
	istio       map[string]string // kind/name -> spec
}

func snapshot(t *testing.T, c *testcluster.Cluster, ns string) state {
	t.Helper()
	s := state{deployments: map[string]appsv1.DeploymentSpec{}, istio: map[string]string{}}
	var deps appsv1.DeploymentList
	if err := c.Client.List(context.Background(), &deps, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	for _, d := range deps.Items {
		s.deployments[d.Name] = d.Spec
	}
	var vss istionet.VirtualServiceList
	if err := c.Client.List(context.Background(), &vss, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	for _, vs := range vss.Items {
		s.istio["VirtualService/"+vs.Name] = vs.Spec.String()
	}
	var drs istionet.DestinationRuleList
	if err := c.Client.List(context.Background(), &drs, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	for _, dr := range drs.Items {
		s.istio["DestinationRule/"+dr.Name] = dr.Spec.String()
	}
	return s
}

// buildCLI builds the meshbundle binary.
func buildCLI(t *testing.T) string {
	t.Helper()
	return testcluster.Build(t, "meshbundle")
}

// cli runs the binary and returns its stdout; it fails the test on a
// non-zero exit.
func cli(t *testing.T, bin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+t.TempDir(), "HELM_CONFIG_HOME="+t.TempDir(), "HELM_DATA_HOME="+t.TempDir())
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("meshbundle %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	t.Logf("meshbundle %s:\n%s", strings.Join(args[:2], " "), stderr.String())
	return stdout.String()
}

func deployment(t *testing.T, c *testcluster.Cluster, ns, name string) *appsv1.Deployment {
	t.Helper()
	var d appsv1.Deployment
	if err := c.Client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, &d); err != nil {
		t.Fatalf("Deployment %s: %v", name, err)
	}
	return &d
}

// vsWeights reads the web VirtualService's destinations: subset -> weight.
func vsWeights(t *testing.T, c *testcluster.Cluster, ns string) map[string]int32 {
	t.Helper()
	var vs istionet.VirtualService
	if err := c.Client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "web"}, &vs); err != nil {
		t.Fatal(err)
	}
	out := map[string]int32{}
	for _, r := range vs.Spec.Http {
		if isWarm(r) {
			continue // a warm-up route (renderer.WarmHeader): no traffic
		}
		for _, d := range r.Route {
			out[d.Destination.Subset] = d.Weight
		}
		break
	}
	return out
}

// isWarm: the route matches only requests with renderer.WarmHeader.
func isWarm(r *networking.HTTPRoute) bool {
	for _, m := range r.Match {
		if _, ok := m.Headers[renderer.WarmHeader]; ok {
			return true
		}
	}
	return false
}

func equalWeights(a, b map[string]int32) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func webPods(t *testing.T, c *testcluster.Cluster, ns string) []corev1.Pod {
	t.Helper()
	var list corev1.PodList
	if err := c.Client.List(context.Background(), &list, client.InNamespace(ns), client.MatchingLabels{"app": "web"}); err != nil {
		t.Fatal(err)
	}
	var live []corev1.Pod
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil {
			live = append(live, p)
		}
	}
	return live
}

func injectedPods(t *testing.T, c *testcluster.Cluster, ns, version string) int {
	n := 0
	for _, p := range webPods(t, c, ns) {
		if p.Labels["version"] == version && testcluster.HasSidecar(p) {
			n++
		}
	}
	return n
}

// TestHelmRefusals: bad input changes nothing (no new revision), and a
// release upgraded by someone else between read and write is refused.
func TestHelmRefusals(t *testing.T) {
	c := testcluster.Shared(t)
	store, cl, _ := install(t, c)
	ctx := context.Background()
	revision := func() int {
		rel, err := action.NewGet(store.Config).Run(app)
		if err != nil {
			t.Fatal(err)
		}
		return rel.Version
	}
	before := revision()
	for _, req := range []canary.Request{
		{Op: canary.OpStart, Target: "webz", Version: "v2", Image: newImage}, // unknown Deployment
		{Op: canary.OpStart, Target: "web", Version: "v2"},                   // no image
		{Op: canary.OpPromote},             // no canary
		{Op: canary.OpWeight, Weight: 150}, // out of range
	} {
		_, err := canary.Run(ctx, store, cl, req, canary.Options{Wait: true, Timeout: 10 * time.Second})
		var bad *failure.BadInputError
		if !errors.As(err, &bad) {
			t.Errorf("%+v: err = %v, want bad input", req, err)
		} else {
			t.Logf("%s: %v", req.Op, err)
		}
	}
	if got := revision(); got != before {
		t.Errorf("release revision %d after bad input, want %d", got, before)
	}

	// Operator A reads; operator B starts a canary; A's write is refused.
	a := &canary.HelmStore{Config: store.Config, Release: app, Cluster: cl, Timeout: time.Minute}
	store.Source = nil // B keeps no file either: this is about the release
	cur, err := a.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	run(t, store, cl, start)
	plan, err := canary.NewPlan(cur, canary.Request{Op: canary.OpStart, Target: "web", Version: "v3", Image: newImage})
	if err != nil {
		t.Fatal(err)
	}
	_, err = a.Save(ctx, plan.Steps[0].Config, plan.Steps[0].Message)
	var conflict *canary.ConflictError
	if !errors.As(err, &conflict) {
		t.Fatalf("concurrent write: err = %v, want a ConflictError", err)
	}
	if am, err := cl.AppliedAppMesh(ctx); err != nil || am.Spec.Canary == nil || am.Spec.Canary.Version != "v2" {
		t.Errorf("applied canary after the refused write: %+v (%v), want B's v2", am.Spec.Canary, err)
	}
}

// TestGitOpsWaitsForSync: GitOps mode against the cluster. A stand-in for
// Argo CD (ci/argocdstandin: Argo CD itself cannot run here) polls the
// working copy and applies its AppMesh with a helm upgrade through the
// renderer, a few hundred milliseconds late, the way an Argo CD sync
// applies the latest commit. Because every step waits until the cluster applied it, each
// commit is synced on its own: no two steps collapse into one apply.
func TestGitOpsWaitsForSync(t *testing.T) {
	c := testcluster.Shared(t)
	store, cl, ns := install(t, c)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	dir := t.TempDir()
	repo, err := git.PlainInit(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	applied, err := cl.AppliedAppMesh(ctx)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := appmesh.Marshal(applied)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "appmesh.yaml")
	if err := os.WriteFile(file, doc, 0o644); err != nil {
		t.Fatal(err)
	}
	wt, _ := repo.Worktree()
	if _, err := wt.Add("appmesh.yaml"); err != nil {
		t.Fatal(err)
	}
	if _, err := wt.Commit("example-app", &git.CommitOptions{Author: &object.Signature{Name: "t", Email: "t@example.com", When: time.Now()}}); err != nil {
		t.Fatal(err)
	}

	argo, err := argocdstandin.Start(store, argocdstandin.WorkingCopy(file), 400*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer argo.Stop()

	gitops := &canary.GitStore{Dir: dir, App: app}
	commits := 0
	for _, req := range []canary.Request{start, {Op: canary.OpWeight, Weight: 10}, {Op: canary.OpPromote}} {
		res, err := canary.Run(ctx, gitops, cl, req, canary.Options{Wait: true, Timeout: 90 * time.Second, Interval: 100 * time.Millisecond, Settle: settle})
		if err != nil {
			// The stand-in's own failure is the likelier cause: say it.
			t.Fatalf("%s: %v (%d syncs so far)", req.Op, argo.Explain(err), argo.Synced())
		}
		commits += len(res.Applied)
	}
	if err := argo.Stop(); err != nil {
		t.Fatal(err)
	}
	if n := argo.Synced(); commits != 8 || n != int64(commits) {
		t.Errorf("%d commits, %d synced separately; want 8 and 8 (3 start, 1 weight, 4 promote; every step waits for its sync)", commits, n)
	}
	if err := c.Client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "web-v2"}, &appsv1.Deployment{}); !apierrors.IsNotFound(err) {
		t.Errorf("copy after promote: %v", err)
	}
}

// TestStatusTCP: a canary of a TCP Service (its VirtualService splits tcp
// routes) is reported as running, with its weights.
func TestStatusTCP(t *testing.T) {
	c := testcluster.Shared(t)
	ctx := context.Background()
	ns := c.Namespace(t, nil)
	am := &appmesh.AppMesh{APIVersion: appmesh.APIVersion, Kind: appmesh.Kind,
		Metadata: appmesh.Metadata{Name: app, Namespace: ns},
		Spec: appmesh.Spec{Routes: []appmesh.Route{{Service: "db"}},
			Canary: &appmesh.Canary{Target: "db", Version: "v2", Image: "db:2", Phase: appmesh.CanaryProgressing, Weight: 10}}}
	data, err := appmesh.Marshal(am)
	if err != nil {
		t.Fatal(err)
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: renderer.StateConfigMapName(app)}, Data: map[string]string{renderer.StateKey: string(data)}}
	if err := c.Client.Create(ctx, cm); err != nil {
		t.Fatal(err)
	}
	host := "db." + ns + ".svc.cluster.local"
	dst := func(subset string, w int32) *networking.RouteDestination {
		return &networking.RouteDestination{Destination: &networking.Destination{Host: host, Subset: subset, Port: &networking.PortSelector{Number: 5432}}, Weight: w}
	}
	vs := &istionet.VirtualService{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "db", Labels: map[string]string{"meshbundle.dev/app": app}},
		Spec: networking.VirtualService{Hosts: []string{host}, Tcp: []*networking.TCPRoute{{Route: []*networking.RouteDestination{dst("stable", 90), dst("v2", 10)}}}}}
	if err := c.Client.Create(ctx, vs); err != nil {
		t.Fatal(err)
	}
	kc, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	ic, err := istioclient.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	st, err := canary.ReadStatus(ctx, &canary.Cluster{Client: kc, Namespace: ns, App: app}, ic)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Running || st.Phase != "Progressing" {
		t.Errorf("status of a TCP canary %+v, want running", st)
	}
}
