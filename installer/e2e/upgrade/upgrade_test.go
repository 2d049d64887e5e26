// Package upgrade upgrades Istio between two real builds on the local control
// plane, the way docs/installer.md "Upgrading Istio" tells operators to:
// the earlier build (ci/tools/istio-prev: its charts through `install
// --charts`, its pilot-discovery as the local istiod) as the default
// revision, the pinned build (go.mod) installed beside it as a revision, a
// tag moved, the app rolled, rolled back, moved again, the old revision
// removed, while proxyless xDS clients of both istiods (ci/dataplane) send
// requests to the app's pods all along. kwok runs no containers: the pod
// servers stand in for the app, and no Envoy runs (docs/dataplane.md).
//
// Going pods stay Terminating (testcluster.WithPodTermination) while their
// servers drain: with kwok's default, a deleted pod's IP went to the next
// new pod within ~150 ms, cutting the old pod's drain short while clients
// were still sent to it (13 and 22 of ~350-540 requests to api failed in two
// loaded runs; see docs/dataplane.md).
//
// Cost: one control plane and two istiods, ~1 min on the 2-core machine
// when idle, ~2 min at load ~16 (mostly the two installs and the rolls).
// Needs ci/tools.sh's pilot-discovery-prev (built by default).
package upgrade

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	networking "istio.io/api/networking/v1alpha3"
	istionet "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/meshbundle/meshbundle/appmesh"
	"github.com/meshbundle/meshbundle/ci/dataplane"
	"github.com/meshbundle/meshbundle/ci/testcluster"
	"github.com/meshbundle/meshbundle/installer"
	"github.com/meshbundle/meshbundle/rollout"
)

func TestMain(m *testing.M) {
	// A going pod's server answers for dataplane.DefaultDrain, as an app
	// during its grace period; kwok keeps the pod (and its IP) a second
	// longer, so no new pod is given the IP while it does.
	testcluster.Main(m, testcluster.WithPodTermination(dataplane.DefaultDrain+time.Second), testcluster.WithIstiodRoute())
}

const (
	// prevBuild is ci/tools.sh's pilot-discovery of the earlier Istio build;
	// its charts are linked beside it as prevCharts.
	prevBuild  = "pilot-discovery-prev"
	prevCharts = "istio-prev-charts"
	// next is the revision of the pinned build; the earlier build is the
	// default revision (release istiod), as on a cluster installed before.
	next = "next"
	old  = installer.DefaultRevision
	tag  = "prod"
	app  = "example-app"
	// rate of each client, requests per second (four clients run at once).
	rate = 100
)

// deployments of charts/example-app, with their Services' ports.
var deployments = map[string]string{"web": "80", "api": "9000"}

func TestUpgradeBetweenBuilds(t *testing.T) {
	c := testcluster.Shared(t)
	ctx := context.Background()
	kc, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	bin, err := testcluster.BinDir()
	if err != nil {
		t.Fatal(err)
	}
	charts := filepath.Join(bin, prevCharts)
	differentBuilds(t, charts)
	opts := func(rev, charts string) installer.Options {
		return installer.Options{
			Source:     installer.Source{NoGateway: true, NoAddons: true, Revision: rev, Charts: charts},
			Kubeconfig: c.Kubeconfig, Wait: true, Timeout: 3 * time.Minute,
		}
	}
	tagOpts := installer.Options{Kubeconfig: c.Kubeconfig, Timeout: time.Minute}

	step(t, "the earlier build as the default revision", func(t *testing.T) {
		o := opts("", charts)
		var istiodErr error
		o.Progress = func(e installer.Event) {
			if e.Phase == installer.PhaseIstiod && e.State != "" && e.State != installer.StateFailed && c.IstiodXDSAddr() == "" {
				istiodErr = c.StartIstiodBuild(ctx, prevBuild)
			}
		}
		_, err := installer.Install(ctx, o)
		if err = errors.Join(istiodErr, err); err != nil {
			t.Fatalf("install --charts %s: %v\nistiod log: %s", charts, err, c.IstiodLog())
		}
		if v := chartVersion(t, c, installer.ReleaseIstiod); v == installer.PinnedTag {
			t.Errorf("istiod release has chart version %s: the pinned charts, not the earlier build's", v)
		}
		if err := installer.TagSet(ctx, tagOpts, tag, "", false); err != nil {
			t.Fatal(err)
		}
	})
	t.Cleanup(func() { _ = c.StopIstiod() })

	ns := installApp(t, c)
	srv, err := dataplane.StartServers(ctx, c.Config, ns, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Err(); err != nil {
			t.Errorf("pod servers: %v", err)
		}
		srv.Stop()
	})
	checkInjectedBy(ctx, t, kc, ns, old)
	prevClients := clients(t, old, c.IstiodXDSAddr(), ns)

	var rev *testcluster.RevisionIstiod
	t.Cleanup(func() { _ = rev.Stop() })
	step(t, "the pinned build as revision next", func(t *testing.T) {
		res, err := installer.Install(ctx, opts(next, ""))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range res.Phases {
			for _, r := range p.Releases {
				if r.Name == installer.ReleaseIstiod {
					t.Errorf("install --revision %s touched the default istiod release: %s", next, r.Action)
				}
			}
		}
		if rev, err = c.StartRevisionIstiod(ctx, next, 1); err != nil {
			t.Fatal(err)
		}
		if v := chartVersion(t, c, "istiod-"+next); v != installer.PinnedTag {
			t.Errorf("istiod-%s release has chart version %s, want the pinned %s", next, v, installer.PinnedTag)
		}
		if v := chartVersion(t, c, installer.ReleaseIstiod); v == installer.PinnedTag {
			t.Errorf("the default istiod release moved to the pinned charts (%s)", v)
		}
	})
	nextClients := clients(t, next, rev.XDSAddr(), ns)

	// From here until the old revision is gone, clients of both istiods
	// (proxies of client workloads not rolled yet, and rolled ones) call
	// both Deployments without a break.
	stop := make(chan struct{})
	during := runWhile(append(prevClients, nextClients...), stop)
	for _, mv := range []struct {
		name     string
		revision string // the tag's revision after the step
	}{
		{"move the tag to next and roll", next},
		{"rollback: the tag back to the earlier build and roll", old},
		{"move the tag to next again and roll", next},
	} {
		step(t, mv.name, func(t *testing.T) {
			target := mv.revision
			if target == old {
				target = ""
			}
			if err := installer.TagSet(ctx, tagOpts, tag, target, true); err != nil {
				t.Fatal(err)
			}
			for d := range deployments {
				restart(ctx, t, kc, ns, d)
			}
			checkInjectedBy(ctx, t, kc, ns, mv.revision)
		})
	}
	close(stop)
	failed := false
	for _, r := range during() {
		if r.Failed > 0 || r.Requests == 0 {
			failed = true
			t.Errorf("during the moves, %s: %v; want requests and 0 failed", r.name, r.Result)
		}
		t.Logf("during the moves, %s: %v", r.name, r.Result)
	}

	step(t, "the old revision validating the cluster's config is not removed", func(t *testing.T) {
		_, err := installer.Uninstall(ctx, opts(old, ""))
		if err == nil || !strings.Contains(err.Error(), "istiod-default-validator") || !strings.Contains(err.Error(), "values.defaultRevision=<other>") {
			t.Fatalf("uninstall --revision default while it validates Istio config: %v, want refused naming the webhook and the fix", err)
		}
		o := opts(next, "")
		o.Source.Set = []string{"values.defaultRevision=" + next}
		res, err := installer.Install(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range res.Phases {
			for _, r := range p.Releases {
				// defaultRevision is a value of istio-base and of the
				// revision's own istiod chart (which renders the default
				// validator for the default revision); nothing else moves.
				if r.Name == installer.ReleaseBase || r.Name == installer.ReleaseIstiod+"-"+next {
					continue
				}
				if r.Action != installer.ActionUnchanged {
					t.Errorf("install --revision %s --set values.defaultRevision=%s: release %s %s, want only istio-base and istiod-%s touched", next, next, r.Name, r.Action, next)
				}
			}
		}
	})

	// The earlier build's clients would be rolled with their workloads by
	// now; the pinned build's keep calling while the old revision goes.
	stop = make(chan struct{})
	during = runWhile(nextClients, stop)
	step(t, "remove the earlier build's revision", func(t *testing.T) {
		o := opts(old, "")
		o.Progress = func(e installer.Event) {
			if e.Phase == installer.PhaseIstiod && e.State != "" {
				_ = c.StopIstiod()
			}
		}
		res, err := installer.Uninstall(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		var touched []string
		for _, p := range res.Phases {
			for _, r := range p.Releases {
				if r.Action != installer.ActionUnchanged && r.Action != installer.ActionAbsent {
					touched = append(touched, r.Name+" "+string(r.Action))
				}
			}
		}
		if len(touched) != 1 || touched[0] != installer.ReleaseIstiod+" "+string(installer.ActionUninstalled) {
			t.Errorf("uninstall --revision default: %v, want only istiod uninstalled", touched)
		}
		checkInjectedBy(ctx, t, kc, ns, next)
		validatedBy(ctx, t, c, ns, next)
	})
	close(stop)
	for _, r := range during() {
		if r.Failed > 0 || r.Requests == 0 {
			failed = true
			t.Errorf("while removing the old revision, %s: %v; want requests and 0 failed", r.name, r.Result)
		}
		t.Logf("while removing the old revision, %s: %v", r.name, r.Result)
	}

	// Going pods answered for their whole drain: no new pod was given a
	// going pod's IP meanwhile (kwok's default, which WithPodTermination
	// turns off: it cut drains short and failed requests).
	for _, e := range srv.Events() {
		if e.CutShort {
			failed = true
			t.Errorf("pod server %v: its drain was cut short (the pod's IP went to a new pod while it drained)", e)
		}
	}
	if failed {
		// The failures' times (above) against what the pods' servers did.
		for _, e := range srv.Events() {
			t.Logf("pod server: %v", e)
		}
	}

	// The control for every "0 failed" above: the same clients during a roll
	// that is not make-before-break (every old pod removed at once, the new
	// ones never Ready) do see failures.
	step(t, "control: a roll that leaves no Ready pod fails requests", func(t *testing.T) {
		breakRoll(ctx, t, kc, ns, "web")
		d := nextClients[slices.IndexFunc(nextClients, func(cl client) bool { return cl.name == "web via "+next })]
		if _, err := d.Settle(ctx, 100, time.Minute, func(r dataplane.Result) error {
			if r.Failed == 0 {
				return fmt.Errorf("no request failed yet: %v", r)
			}
			return nil
		}); err != nil {
			t.Fatalf("a roll that leaves web without a Ready pod never made a request fail: %v", err)
		}
		res := d.Run(ctx, 200)
		if res.Failed != res.Requests {
			t.Errorf("web without a Ready pod: %v, want every request to fail", res)
		}
		t.Logf("web without a Ready pod: %v", res)
	})
}

// differentBuilds fails unless the earlier build's charts differ from the
// pinned ones (else this test would show nothing the revision test does not).
func differentBuilds(t *testing.T, charts string) {
	t.Helper()
	const file = "istio-control/istio-discovery/files/injection-template.yaml"
	prev, err := os.ReadFile(filepath.Join(charts, file))
	if err != nil {
		t.Fatalf("the earlier Istio build's charts (ci/tools.sh %s): %v", prevBuild, err)
	}
	pinned, err := installer.IstioChart("istio-control/istio-discovery")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range pinned.Files {
		if "istio-control/istio-discovery/"+f.Name == file {
			if bytes.Equal(f.Data, prev) {
				t.Fatalf("%s is the same in both builds: not two different builds", file)
			}
			return
		}
	}
	t.Fatalf("the pinned istiod chart has no %s", file)
}

// installApp installs charts/example-app through the post-renderer with an
// AppMesh pinning the tag (spec.injection.revision), into a namespace
// labelled as the renderer labels the app's Namespace for it.
func installApp(t *testing.T, c *testcluster.Cluster) string {
	t.Helper()
	ns := c.Namespace(t, map[string]string{installer.RevisionLabel: tag})
	am := &appmesh.AppMesh{APIVersion: appmesh.APIVersion, Kind: appmesh.Kind,
		Metadata: appmesh.Metadata{Name: app, Namespace: ns},
		Spec: appmesh.Spec{
			Ports:     appmesh.Ports{Mode: appmesh.PortModeFix},
			Injection: appmesh.Injection{Revision: tag},
		}}
	c.InstallExampleApp(t, am)
	return ns
}

// client is a proxyless xDS client of one Deployment's Service, fed by one
// istiod.
type client struct {
	*dataplane.Driver
	name string
}

// clients of web and api through the istiod of revision via, serving xDS
// at xdsAddr; each waits until requests succeed.
func clients(t *testing.T, via, xdsAddr, ns string) []client {
	t.Helper()
	if xdsAddr == "" {
		t.Fatalf("istiod %s is not running", via)
	}
	var out []client
	for _, d := range sortedKeys(deployments) {
		drv, err := dataplane.NewXDSDriver(xdsAddr, ns, d+"."+ns+".svc.cluster.local:"+deployments[d])
		if err != nil {
			t.Fatal(err)
		}
		drv.Rate = rate
		t.Cleanup(func() { drv.Close() })
		cl := client{Driver: drv, name: d + " via " + via}
		if _, err := drv.Settle(context.Background(), 50, time.Minute, func(r dataplane.Result) error {
			if r.Failed > 0 {
				return fmt.Errorf("%v", r)
			}
			return nil
		}); err != nil {
			t.Fatalf("%s: %v", cl.name, err)
		}
		out = append(out, cl)
	}
	return out
}

type namedResult struct {
	name string
	dataplane.Result
}

// runWhile runs every client until stop is closed; the returned function
// waits for their results.
func runWhile(cls []client, stop <-chan struct{}) func() []namedResult {
	ch := make(chan namedResult, len(cls))
	for _, cl := range cls {
		go func() { ch <- namedResult{cl.name, cl.RunWhile(context.Background(), stop)} }()
	}
	return func() []namedResult {
		out := make([]namedResult, 0, len(cls))
		for range cls {
			out = append(out, <-ch)
		}
		sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
		return out
	}
}

// checkInjectedBy waits until every Deployment of the app has rolled out
// and checks that each of its pods was injected by revision rev (the
// injector annotates every pod with its revision).
func checkInjectedBy(ctx context.Context, t *testing.T, kc kubernetes.Interface, ns, rev string) {
	t.Helper()
	for _, d := range sortedKeys(deployments) {
		var got []string
		err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
			dep, err := kc.AppsV1().Deployments(ns).Get(ctx, d, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			if done, _ := rollout.DeploymentDone(dep); !done {
				return false, nil
			}
			pods, err := kc.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=" + d})
			if err != nil {
				return false, err
			}
			got = got[:0]
			for _, p := range pods.Items {
				if p.DeletionTimestamp != nil {
					return false, nil // the old pods are still going
				}
				got = append(got, injectedBy(p))
			}
			return int32(len(got)) == *dep.Spec.Replicas, nil
		})
		if err != nil {
			t.Fatalf("Deployment %s/%s rolled out: %v (pods injected by %v)", ns, d, err, got)
		}
		for _, r := range got {
			if r != rev {
				t.Errorf("Deployment %s/%s: pods injected by %v, want every one by %s", ns, d, got, rev)
				break
			}
		}
	}
}

func injectedBy(p corev1.Pod) string {
	if !testcluster.HasSidecar(p) {
		return "not injected"
	}
	return p.Annotations[installer.RevisionLabel]
}

// restart rolls a Deployment, as `kubectl rollout restart` does.
func restart(ctx context.Context, t *testing.T, kc kubernetes.Interface, ns, name string) {
	t.Helper()
	patch := fmt.Sprintf(`{"spec":{"template":{"metadata":{"annotations":{"kubectl.kubernetes.io/restartedAt":%q}}}}}`, time.Now().Format(time.RFC3339Nano))
	if _, err := kc.AppsV1().Deployments(ns).Patch(ctx, name, types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
}

// breakRoll rolls a Deployment break-before-make: every old pod may go at
// once (maxUnavailable 100 %, no surge) and the new pods cannot be
// scheduled, so none becomes Ready.
func breakRoll(ctx context.Context, t *testing.T, kc kubernetes.Interface, ns, name string) {
	t.Helper()
	patch := `{"spec":{"strategy":{"type":"RollingUpdate","rollingUpdate":{"maxUnavailable":"100%","maxSurge":0}},` +
		`"template":{"spec":{"nodeSelector":{"meshbundle.dev/no-such-node":"true"}}}}}`
	if _, err := kc.AppsV1().Deployments(ns).Patch(ctx, name, types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
}

// validatedBy checks that Istio config in the cluster is still validated
// once the old revision is gone (by rev, whose istiod serves the base
// chart's istiod-default-validator now): an invalid VirtualService is
// refused by Istio's webhook, a valid one accepted.
func validatedBy(ctx context.Context, t *testing.T, c *testcluster.Cluster, ns, rev string) {
	t.Helper()
	vs := func(name, dest string) *istionet.VirtualService {
		return &istionet.VirtualService{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec: networking.VirtualService{Hosts: []string{"web"}, Http: []*networking.HTTPRoute{{
				Route: []*networking.HTTPRouteDestination{{Destination: &networking.Destination{Host: dest}}}}}}}
	}
	// The CRD schema accepts "in valid!" as a host; only Istio's validation
	// refuses it. istiod-<rev> patches the webhook's CA bundle once it sees
	// the webhook is its own.
	var err error
	werr := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		err = c.Client.Create(ctx, vs("invalid", "in valid!"))
		if err == nil {
			return false, errors.New("the invalid VirtualService was accepted: nothing validates Istio config")
		}
		return strings.Contains(err.Error(), "denied the request"), nil
	})
	if werr != nil {
		t.Fatalf("an invalid VirtualService with revision %s validating: %v (last create: %v), want denied by Istio's webhook", rev, werr, err)
	}
	if err := c.Client.Create(ctx, vs("valid", "web."+ns+".svc.cluster.local")); err != nil {
		t.Fatalf("a valid VirtualService with revision %s validating: %v", rev, err)
	}
}

// chartVersion is the chart version of a release's last revision.
func chartVersion(t *testing.T, c *testcluster.Cluster, name string) string {
	t.Helper()
	cfg, err := c.HelmConfig(testcluster.IstioNamespace)
	if err != nil {
		t.Fatal(err)
	}
	rel, err := cfg.Releases.Last(name)
	if err != nil {
		t.Fatalf("release %s: %v", name, err)
	}
	return rel.Chart.Metadata.Version
}

func step(t *testing.T, name string, fn func(t *testing.T)) {
	t.Helper()
	if !t.Run(name, fn) {
		t.FailNow()
	}
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
