package e2e

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/release"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/meshbundle/meshbundle/appmesh"
	"github.com/meshbundle/meshbundle/canary"
	"github.com/meshbundle/meshbundle/ci/dataplane"
	"github.com/meshbundle/meshbundle/ci/testcluster"
)

// TestKilledPromoteTraffic: `meshbundle canary promote --release --file`
// (the real binary) is SIGKILLed during the helm upgrade of each of its
// steps in turn (the moment the release's Secret turns pending-upgrade),
// and run again until it finishes, while a proxyless gRPC client sends
// requests the whole time: 0 failed (TestBrokenStepsFail is the control
// that such a client does see failures), and afterwards only v2 answers.
// Each run lets the step it re-applies through and kills the next one; a
// kill that lands late only lets the command get further.
func TestKilledPromoteTraffic(t *testing.T) {
	c := testcluster.Shared(t)
	store, cl, ns := install(t, c, webRoute(appmesh.RouteAPIIstio))
	ctx := context.Background()
	// The team's AppMesh file, as the CLI needs it in Helm mode.
	am, err := cl.AppliedAppMesh(ctx)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := appmesh.Marshal(am)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "appmesh.yaml")
	if err := os.WriteFile(file, doc, 0o644); err != nil {
		t.Fatal(err)
	}
	store.Source = &canary.FileStore{Path: file, App: app}
	d := driver(t, c, ns, "web."+ns+".svc.cluster.local:80")
	measure(t, d, map[string]float64{"": 100}, 100)
	during := stepWithTraffic(t, d, store, cl, canary.Request{Op: canary.OpStart, Target: "web", Version: "v2", Image: newImage})
	if during.Failed > 0 {
		t.Errorf("during start: %v", during)
	}
	mb := testcluster.Build(t, "meshbundle")

	stop := make(chan struct{})
	traffic := make(chan dataplane.Result)
	go func() { traffic <- d.RunWhile(ctx, stop) }()
	kills, done := 0, false
	for run := 0; run < 7 && !done; run++ {
		// Only records written after this point count (the killed run's
		// own pending one is there already).
		sel := metav1.ListOptions{LabelSelector: "owner=helm,name=" + app}
		list, err := cl.Client.CoreV1().Secrets(ns).List(ctx, sel)
		if err != nil {
			t.Fatal(err)
		}
		old := map[string]bool{}
		for _, s := range list.Items {
			old[s.Name] = true
		}
		sel.ResourceVersion = list.ResourceVersion
		w, err := cl.Client.CoreV1().Secrets(ns).Watch(ctx, sel)
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(mb, "canary", "promote", app, "--release", app, "--file", file, "-n", ns, "--kubeconfig", c.Kubeconfig, "--timeout", "90s", "--settle", "2s")
		cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+t.TempDir(), "HELM_CONFIG_HOME="+t.TempDir(), "HELM_DATA_HOME="+t.TempDir())
		stderr, _ := cmd.StderrPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// The first run is killed in its first upgrade; a later one lets
		// the step it re-applies through and is killed in the next.
		killAt := 2
		if run == 0 {
			killAt = 1
		}
		go func() {
			seen := map[string]bool{}
			for ev := range w.ResultChan() {
				if s, ok := ev.Object.(*corev1.Secret); ok && s.Labels["status"] == string(release.StatusPendingUpgrade) && !seen[s.Name] && !old[s.Name] {
					seen[s.Name] = true
					if len(seen) == killAt {
						_ = cmd.Process.Signal(syscall.SIGKILL)
						return
					}
				}
			}
		}()
		var log strings.Builder
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			log.WriteString(sc.Text() + "\n")
		}
		err = cmd.Wait()
		w.Stop()
		switch {
		case err == nil:
			done = true
			t.Logf("run %d finished:\n%s", run+1, log.String())
		case strings.Contains(err.Error(), "signal: killed"):
			kills++
			t.Logf("run %d killed (%v):\n%s", run+1, err, log.String())
		default:
			t.Fatalf("run %d: %v\n%s", run+1, err, log.String())
		}
		if !done {
			// The killed command's lease is taken over once stale.
			testcluster.WaitFor(t, "the killed command's lease to go stale", func() bool {
				l, err := cl.Client.CoordinationV1().Leases(ns).Get(ctx, canary.LeaseName(app), metav1.GetOptions{})
				if err != nil || l.Spec.RenewTime == nil {
					return true
				}
				return time.Now().After(l.Spec.RenewTime.Add(time.Duration(ptr.Deref(l.Spec.LeaseDurationSeconds, 0))*time.Second + 200*time.Millisecond))
			})
		}
	}
	close(stop)
	all := <-traffic
	if !done {
		t.Fatalf("promote did not finish in 7 runs (%d kills)", kills)
	}
	if kills == 0 {
		t.Error("no run was killed")
	}
	t.Logf("during promote, killed %d times and run again: %v", kills, all)
	if all.Failed > 0 || all.Requests == 0 {
		t.Errorf("during the killed and resumed promote: %v, want 0 failed", all)
	}
	res := measure(t, d, map[string]float64{"v2": 100}, 100)
	t.Logf("traffic after promote: %s", res.Summary("v2"))
}
