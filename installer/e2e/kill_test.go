package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/release"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"

	"github.com/meshbundle/meshbundle/ci/testcluster"
	"github.com/meshbundle/meshbundle/installer"
)

// progressLine is one of the CLI's progress lines on stderr:
// "   1.2s  base     ..." when a phase starts, "   2.0s  base     done ..."
// when it ends.
var progressLine = regexp.MustCompile(`^\s*[0-9.]+s\s+(\S+)\s+(\S+)`)

// cliInstall runs `meshbundle install --wait` as a real process. It starts
// the local istiod once the istiod phase has ended (its release exists), and
// calls onLine for every progress line (phase, state: "..." at the start).
type cliInstall struct {
	bin string
	c   *testcluster.Cluster
}

func (ci cliInstall) start(t *testing.T, onLine func(cmd *exec.Cmd, phase, state string)) (*exec.Cmd, <-chan error) {
	t.Helper()
	cmd := exec.Command(ci.bin, "install", "--wait", "--kubeconfig", ci.c.Kubeconfig, "--addons-chart", addonsChart, "--timeout", "3m", "-o", "json")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		var log strings.Builder
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			log.WriteString(sc.Text() + "\n")
			if m := progressLine.FindStringSubmatch(sc.Text()); m != nil {
				onLine(cmd, m[1], m[2])
			}
		}
		err := cmd.Wait()
		if err != nil {
			err = fmt.Errorf("%w; stderr:\n%s", err, log.String())
		}
		done <- err
	}()
	return cmd, done
}

// istiodStarter starts the local istiod the first time an install's istiod
// phase ends well, as istiod's pod would start once its release exists. It
// starts it in the background, so the progress lines that follow (the kill
// points) are read as they come.
type istiodStarter struct {
	c       *testcluster.Cluster
	running bool
	started chan error // the start's outcome, once running
}

func (s *istiodStarter) onLine(phase, state string) {
	if phase == string(installer.PhaseIstiod) && (state == string(installer.StateDone) || state == string(installer.StateUnchanged)) && !s.running {
		s.running = true
		s.started = make(chan error, 1)
		go func() { s.started <- s.c.StartIstiod(context.Background()) }()
	}
}

// wait returns the outcome of a start begun by onLine (nil if none).
func (s *istiodStarter) wait() error {
	if s.started == nil {
		return nil
	}
	err := <-s.started
	s.started = nil
	return err
}

func (s *istiodStarter) stop() error {
	_ = s.wait()
	s.running = false
	return s.c.StopIstiod()
}

// TestKilledInstallConverges SIGKILLs a real `meshbundle install --wait`
// during base, istiod, wait and addons (the phase read from its progress
// output), re-runs it, and compares the result with a clean install: exit
// 0, every release deployed, and every object of every release equal in
// content (not only present). Between kills the cluster is emptied
// (uninstall --delete-crds), so each kill hits a first install.
func TestKilledInstallConverges(t *testing.T) {
	c := testcluster.Shared(t)
	cl := newClients(t, c)
	ctx := context.Background()
	ci := cliInstall{bin: testcluster.Build(t, "meshbundle"), c: c}
	istiod := &istiodStarter{c: c}
	t.Cleanup(func() { _ = istiod.stop() })

	install := func(t *testing.T) {
		t.Helper()
		_, done := ci.start(t, func(_ *exec.Cmd, phase, state string) { istiod.onLine(phase, state) })
		err := <-done
		if serr := istiod.wait(); serr != nil {
			t.Fatalf("start istiod: %v", serr)
		}
		if err != nil {
			t.Fatalf("meshbundle install --wait: %v", err)
		}
	}
	empty := func(t *testing.T) {
		t.Helper()
		opts := options(c, func(e installer.Event) {
			if e.Phase == installer.PhaseIstiod && e.State != "" {
				_ = istiod.stop()
			}
		})
		opts.DeleteCRDs = true
		waitLeaseFree(ctx, t, cl)
		if _, err := installer.Uninstall(ctx, opts); err != nil {
			t.Fatalf("uninstall --delete-crds: %v", err)
		}
	}

	var clean map[string]map[string]any
	step(t, "clean install", func(t *testing.T) {
		install(t)
		clean = releaseObjects(t, c, cl)
		if len(clean) < 50 {
			t.Fatalf("only %d objects in the clean install", len(clean))
		}
		empty(t)
	})

	cases := []struct {
		phase   installer.Phase // kill while this phase runs
		pending string          // and, if set, once this release's Helm install is under way (its record pending-install)
	}{
		{phase: installer.PhaseBase, pending: installer.ReleaseBase},
		{phase: installer.PhaseIstiod, pending: installer.ReleaseIstiod},
		{phase: installer.PhaseWait},
		{phase: installer.PhaseAddons, pending: installer.ReleaseAddons},
	}
	for i, tc := range cases {
		step(t, "killed during "+string(tc.phase), func(t *testing.T) {
			killed := make(chan string, 1)
			_, done := ci.start(t, func(cmd *exec.Cmd, phase, state string) {
				istiod.onLine(phase, state)
				if phase == string(tc.phase) && state == "..." {
					if tc.pending != "" && !pendingInstall(ctx, cl, "istio-system", tc.pending) {
						t.Errorf("release %s never seen pending-install", tc.pending)
					}
					_ = cmd.Process.Signal(syscall.SIGKILL)
					killed <- phase
				}
			})
			err := <-done
			select {
			case <-killed:
			default:
				t.Fatalf("the install ended (%v) without reaching phase %s", err, tc.phase)
			}
			if err == nil || !strings.Contains(err.Error(), "signal: killed") {
				t.Fatalf("install: %v, want killed by SIGKILL", err)
			}
			t.Logf("killed in %s: %s", tc.phase, releaseStates(t, c))

			// The killed run still holds the lease: a re-run is refused (exit 5)
			// until the lease is stale, then takes it over.
			if i == 0 {
				_, done := ci.start(t, func(*exec.Cmd, string, string) {})
				if err := <-done; err == nil || !strings.Contains(err.Error(), "exit status 5") || !strings.Contains(err.Error(), "pid") {
					t.Errorf("re-run right after the kill: %v, want exit 5 naming the killed holder", err)
				}
			}
			waitLeaseFree(ctx, t, cl)
			install(t)
			for _, ns := range []string{"istio-system", installer.DefaultGatewayNamespace} {
				cfg, err := c.HelmConfig(ns)
				if err != nil {
					t.Fatal(err)
				}
				rels, err := cfg.Releases.List(func(*release.Release) bool { return true })
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range rels {
					if last := lastRelease(t, c, ns, r.Name); last.Info.Status != release.StatusDeployed {
						t.Errorf("release %s/%s: %s, want deployed", ns, r.Name, last.Info.Status)
					}
				}
			}
			got := releaseObjects(t, c, cl)
			if diffs := diffObjects(clean, got); len(diffs) > 0 {
				t.Errorf("after the kill and re-run, %d of %d objects differ from a clean install:\n%s", len(diffs), len(clean), strings.Join(diffs, "\n"))
			}
			empty(t)
		})
	}
}

// pendingInstall watches (for at most 30 s) until Helm has written the
// release's record as pending-install: its install is under way. A watch,
// not a poll: a small release is pending for only a few milliseconds.
func pendingInstall(ctx context.Context, cl clients, ns, name string) bool {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	w, err := cl.kube.CoreV1().Secrets(ns).Watch(ctx, metav1.ListOptions{LabelSelector: "owner=helm,name=" + name})
	if err != nil {
		return false
	}
	defer w.Stop()
	for ev := range w.ResultChan() {
		if s, ok := ev.Object.(*corev1.Secret); ok && s.Labels["status"] == "pending-install" {
			return true
		}
	}
	return false
}

// waitLeaseFree waits until no run holds the installer lease, or its holder
// has stopped renewing it for longer than its duration (a killed run).
func waitLeaseFree(ctx context.Context, t *testing.T, cl clients) {
	t.Helper()
	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, 2*installer.LeaseDuration, true, func(ctx context.Context) (bool, error) {
		l, err := cl.kube.CoordinationV1().Leases(installer.LeaseNamespace).Get(ctx, installer.LeaseName, metav1.GetOptions{})
		if err != nil {
			return true, nil // none yet
		}
		if ptr.Deref(l.Spec.HolderIdentity, "") == "" || l.Spec.RenewTime == nil {
			return true, nil
		}
		stale := l.Spec.RenewTime.Add(time.Duration(ptr.Deref(l.Spec.LeaseDurationSeconds, 0))*time.Second + 100*time.Millisecond)
		return time.Now().After(stale), nil
	})
	if err != nil {
		t.Fatalf("installer lease still held: %v", err)
	}
}

// releaseStates says what a kill left: each release's newest status.
func releaseStates(t *testing.T, c *testcluster.Cluster) string {
	t.Helper()
	var out []string
	for _, ns := range []string{"istio-system", installer.DefaultGatewayNamespace} {
		cfg, err := c.HelmConfig(ns)
		if err != nil {
			t.Fatal(err)
		}
		rels, _ := cfg.Releases.List(func(*release.Release) bool { return true })
		for _, r := range rels {
			out = append(out, fmt.Sprintf("%s v%d %s", r.Name, r.Version, r.Info.Status))
		}
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}

// releaseObjects reads every object of every deployed release from the
// cluster, without what the API server and controllers write (uid,
// resourceVersion, timestamps, managedFields, status, a Service's cluster
// IPs and node ports) and the CA bundle each istiod start generates afresh.
func releaseObjects(t *testing.T, c *testcluster.Cluster, cl clients) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	forEachReleaseObject(t, c, cl, func(got *unstructured.Unstructured) {
		out[fmt.Sprintf("%s %s/%s", got.GetKind(), got.GetNamespace(), got.GetName())] = normalized(got)
	})
	return out
}

func normalized(u *unstructured.Unstructured) map[string]any {
	o := u.DeepCopy().Object
	for _, f := range []string{"uid", "resourceVersion", "creationTimestamp", "generation", "managedFields"} {
		unstructured.RemoveNestedField(o, "metadata", f)
	}
	unstructured.RemoveNestedField(o, "metadata", "annotations", "deployment.kubernetes.io/revision")
	delete(o, "status")
	if u.GetKind() == "Service" {
		// Allocated by the API server on creation, not rendered.
		unstructured.RemoveNestedField(o, "spec", "clusterIP")
		unstructured.RemoveNestedField(o, "spec", "clusterIPs")
		if ports, ok, _ := unstructured.NestedSlice(o, "spec", "ports"); ok {
			for _, p := range ports {
				delete(p.(map[string]any), "nodePort")
			}
			_ = unstructured.SetNestedSlice(o, ports, "spec", "ports")
		}
	}
	if whs, ok, _ := unstructured.NestedSlice(o, "webhooks"); ok {
		for _, wh := range whs {
			unstructured.RemoveNestedField(wh.(map[string]any), "clientConfig", "caBundle")
		}
		_ = unstructured.SetNestedSlice(o, whs, "webhooks")
	}
	// A round trip through JSON makes numbers and slices comparable.
	b, _ := json.Marshal(o)
	var n map[string]any
	_ = json.Unmarshal(b, &n)
	return n
}

// diffObjects lists, per object, the first few paths whose values differ.
func diffObjects(want, got map[string]map[string]any) []string {
	var out []string
	for key, w := range want {
		g, ok := got[key]
		if !ok {
			out = append(out, key+": missing")
			continue
		}
		var paths []string
		diffValues("", w, g, &paths)
		if len(paths) > 0 {
			if len(paths) > 5 {
				paths = append(paths[:5], fmt.Sprintf("and %d more", len(paths)-5))
			}
			out = append(out, key+": "+strings.Join(paths, "; "))
		}
	}
	for key := range got {
		if _, ok := want[key]; !ok {
			out = append(out, key+": not in a clean install")
		}
	}
	sort.Strings(out)
	return out
}

func diffValues(path string, want, got any, out *[]string) {
	wm, wok := want.(map[string]any)
	gm, gok := got.(map[string]any)
	if wok && gok {
		keys := map[string]bool{}
		for k := range wm {
			keys[k] = true
		}
		for k := range gm {
			keys[k] = true
		}
		sorted := make([]string, 0, len(keys))
		for k := range keys {
			sorted = append(sorted, k)
		}
		sort.Strings(sorted)
		for _, k := range sorted {
			diffValues(path+"."+k, wm[k], gm[k], out)
		}
		return
	}
	ws, wok := want.([]any)
	gs, gok := got.([]any)
	if wok && gok && len(ws) == len(gs) {
		for i := range ws {
			diffValues(fmt.Sprintf("%s[%d]", path, i), ws[i], gs[i], out)
		}
		return
	}
	if !reflect.DeepEqual(want, got) {
		*out = append(*out, fmt.Sprintf("%s: %v != %v", path, short(want), short(got)))
	}
}

func short(v any) string {
	s := fmt.Sprint(v)
	if len(s) > 60 {
		s = s[:60] + "..."
	}
	return s
}
