package e2e

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/release"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/meshbundle/meshbundle/ci/testcluster"
	"github.com/meshbundle/meshbundle/failure"
	"github.com/meshbundle/meshbundle/installer"
)

// appRevisions waits until the Deployment's rollout is complete and returns
// the istio.io/rev annotation of each of its pods (the revision that
// injected it).
func appRevisions(ctx context.Context, t *testing.T, c *testcluster.Cluster, cl clients, ns, name string) []string {
	t.Helper()
	if _, err := c.WaitDeploymentAvailable(ctx, ns, name, time.Minute); err != nil {
		t.Fatal(err)
	}
	var revs []string
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		pods, err := cl.kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=" + name})
		if err != nil {
			return false, err
		}
		revs = nil
		for _, p := range pods.Items {
			if p.DeletionTimestamp != nil {
				return false, nil // the old pod is still going
			}
			if !testcluster.HasSidecar(p) {
				revs = append(revs, "not injected")
				continue
			}
			revs = append(revs, p.Annotations[installer.RevisionLabel]) // set by the injector
		}
		return len(revs) == 1, nil
	})
	if err != nil {
		t.Fatalf("pods of %s/%s: %v (%v)", ns, name, err, revs)
	}
	return revs
}

// restart rolls a Deployment, as `kubectl rollout restart` does.
func restart(ctx context.Context, t *testing.T, cl clients, ns, name string) {
	t.Helper()
	patch := fmt.Sprintf(`{"spec":{"template":{"metadata":{"annotations":{"kubectl.kubernetes.io/restartedAt":%q}}}}}`, time.Now().Format(time.RFC3339Nano))
	if _, err := cl.kube.AppsV1().Deployments(ns).Patch(ctx, name, types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
}

// TestRevisionUpgrade walks Istio's revision-based upgrade with two real
// istiods: the default control plane injects an app pinned to the tag
// "prod"; `install --revision canary` adds istiod-canary beside it; moving
// the tag and rolling the app moves its pod to canary, and back (the
// rollback); a revision is removed only when no proxy and no tag uses it,
// and the refusal names the workloads.
func TestRevisionUpgrade(t *testing.T) {
	c := testcluster.Shared(t)
	cl := newClients(t, c)
	ctx := context.Background()
	installWithIstiod(ctx, t, c, options(c, nil))
	t.Cleanup(func() { _ = c.StopIstiod() })
	tagOpts := installer.Options{Kubeconfig: c.Kubeconfig, Timeout: time.Minute}

	// The namespace an AppMesh with spec.injection.revision: prod renders.
	shop := c.Namespace(t, map[string]string{installer.RevisionLabel: "prod"})
	step(t, "tag prod on the default revision injects the app", func(t *testing.T) {
		if err := installer.TagSet(ctx, tagOpts, "prod", "", false); err != nil {
			t.Fatal(err)
		}
		if _, err := cl.kube.AppsV1().Deployments(shop).Create(ctx, deployment(shop, "app", 1, false), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if revs := appRevisions(ctx, t, c, cl, shop, "app"); revs[0] != installer.DefaultRevision {
			t.Errorf("app pod injected by %v, want the default revision through tag prod", revs)
		}
	})

	var canary *testcluster.RevisionIstiod
	t.Cleanup(func() { _ = canary.Stop() })
	step(t, "install --revision canary beside the default", func(t *testing.T) {
		opts := options(c, nil)
		opts.Revision = "canary"
		res, err := installer.Install(ctx, opts)
		if err != nil {
			t.Fatal(err)
		}
		for name, r := range releaseActions(res) {
			want := installer.ActionUnchanged
			if name == "istiod-canary" {
				want = installer.ActionInstalled
			}
			if r.Action != want {
				t.Errorf("release %s: %s, want %s", name, r.Action, want)
			}
		}
		if rel := lastRelease(t, c, "istio-system", installer.ReleaseIstiod); rel == nil || rel.Info.Status != release.StatusDeployed || rel.Version != 1 {
			t.Errorf("the default istiod release after installing canary: %v, want untouched", rel)
		}
		if canary, err = c.StartRevisionIstiod(ctx, "canary", 1); err != nil {
			t.Fatalf("start istiod canary: %v", err)
		}
		mwc, err := cl.kube.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, "istio-sidecar-injector-canary", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if mwc.Labels[installer.RevisionLabel] != "canary" {
			t.Errorf("canary injector labels %v", mwc.Labels)
		}
	})

	step(t, "move the tag to canary and roll: the app moves", func(t *testing.T) {
		if err := installer.TagSet(ctx, tagOpts, "prod", "canary", false); err == nil || !strings.Contains(err.Error(), "--overwrite") {
			t.Errorf("moving the tag without --overwrite: %v, want refused", err)
		}
		if revs := appRevisions(ctx, t, c, cl, shop, "app"); revs[0] != installer.DefaultRevision {
			t.Errorf("after the refused move: %v", revs)
		}
		if err := installer.TagSet(ctx, tagOpts, "prod", "canary", true); err != nil {
			t.Fatal(err)
		}
		tags, err := installer.TagList(ctx, tagOpts)
		if err != nil || len(tags) != 1 || tags[0].Tag != "prod" || tags[0].Revision != "canary" || len(tags[0].Namespaces) != 1 || tags[0].Namespaces[0] != shop {
			t.Errorf("tag list: %+v (%v), want prod → canary selected by %s", tags, err, shop)
		}
		restart(ctx, t, cl, shop, "app")
		if revs := appRevisions(ctx, t, c, cl, shop, "app"); revs[0] != "canary" {
			t.Errorf("after moving the tag and rolling: pod injected by %v, want canary\ncanary log: %s", revs, canary.Log())
		}
	})

	step(t, "a revision in use is not removed", func(t *testing.T) {
		for _, tc := range []struct {
			revision string   // --revision of the uninstall
			want     []string // in the refusal
		}{
			{revision: "canary", want: []string{shop + "/Deployment app", "1 proxies"}},
			{revision: installer.DefaultRevision, want: []string{installer.DefaultGatewayNamespace + "/Deployment " + installer.ReleaseGateway}},
		} {
			opts := options(c, nil)
			opts.Revision = tc.revision
			_, err := installer.Uninstall(ctx, opts)
			var inUse *installer.RevisionInUseError
			if !errors.As(err, &inUse) || failure.KindOf(err) != failure.InUse {
				t.Fatalf("uninstall --revision %s: %v, want a RevisionInUseError (exit code 6, in use)", tc.revision, err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("refusal %q lacks %q", err, w)
				}
			}
		}
		if rel := lastRelease(t, c, "istio-system", "istiod-canary"); rel == nil || rel.Info.Status != release.StatusDeployed {
			t.Errorf("istiod-canary after the refusal: %v", rel)
		}
	})

	step(t, "rollback: the tag back to default, canary removed", func(t *testing.T) {
		if err := installer.TagSet(ctx, tagOpts, "prod", installer.DefaultRevision, true); err != nil {
			t.Fatal(err)
		}
		restart(ctx, t, cl, shop, "app")
		if revs := appRevisions(ctx, t, c, cl, shop, "app"); revs[0] != installer.DefaultRevision {
			t.Errorf("after the rollback: %v, want the default revision", revs)
		}
		opts := options(c, func(e installer.Event) {
			if e.Phase == installer.PhaseIstiod && e.State != "" {
				_ = canary.Stop()
			}
		})
		opts.Revision = "canary"
		res, err := installer.Uninstall(ctx, opts)
		if err != nil {
			t.Fatalf("uninstall --revision canary, unused: %v", err)
		}
		acts := releaseActions(res)
		if len(acts) != 1 || acts["istiod-canary"].Action != installer.ActionUninstalled {
			t.Errorf("releases touched: %+v, want only istiod-canary uninstalled", acts)
		}
		if rel := lastRelease(t, c, "istio-system", installer.ReleaseIstiod); rel == nil || rel.Info.Status != release.StatusDeployed {
			t.Errorf("the default istiod after removing canary: %v", rel)
		}
		if _, err := cl.kube.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, "istio-sidecar-injector-canary", metav1.GetOptions{}); err == nil {
			t.Error("canary's injector is still there")
		}
	})

	step(t, "tag remove refused while selected", func(t *testing.T) {
		if err := installer.TagRemove(ctx, tagOpts, "prod", false); failure.KindOf(err) != failure.InUse || !strings.Contains(err.Error(), shop) {
			t.Errorf("tag remove while %s selects it: %v, want refused (in use) naming it", shop, err)
		}
		ns, err := cl.kube.CoreV1().Namespaces().Get(ctx, shop, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		delete(ns.Labels, installer.RevisionLabel)
		if _, err := cl.kube.CoreV1().Namespaces().Update(ctx, ns, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := installer.TagRemove(ctx, tagOpts, "prod", false); err != nil {
			t.Fatal(err)
		}
		if tags, err := installer.TagList(ctx, tagOpts); err != nil || len(tags) != 0 {
			t.Errorf("tags after remove: %+v (%v)", tags, err)
		}
	})

	// Leave the cluster empty for the next test.
	if err := cl.kube.AppsV1().Deployments(shop).Delete(ctx, "app", metav1.DeleteOptions{}); err != nil {
		t.Error(err)
	}
	opts := options(c, nil)
	opts.DeleteCRDs = true
	if _, err := uninstallStoppingIstiod(ctx, c, opts); err != nil {
		t.Errorf("final uninstall: %v", err)
	}
}
