package e2e

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/meshbundle/meshbundle/ci/testcluster"
	"github.com/meshbundle/meshbundle/gateway"
	"github.com/meshbundle/meshbundle/installer"
)

// writeLease sets the installer lease as a holder that renewed it at renewed.
func writeLease(ctx context.Context, t *testing.T, cl clients, holder string, renewed time.Time) {
	t.Helper()
	leases := cl.kube.CoordinationV1().Leases(installer.LeaseNamespace)
	l, err := leases.Get(ctx, installer.LeaseName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		l, err = leases.Create(ctx, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: installer.LeaseName}}, metav1.CreateOptions{})
	}
	if err != nil {
		t.Fatal(err)
	}
	l.Spec = coordinationv1.LeaseSpec{
		HolderIdentity: ptr.To(holder), LeaseDurationSeconds: ptr.To(int32(30)),
		AcquireTime: &metav1.MicroTime{Time: renewed.Add(-time.Minute)}, RenewTime: &metav1.MicroTime{Time: renewed},
	}
	if _, err := leases.Update(ctx, l, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func leaseHolder(ctx context.Context, t *testing.T, cl clients) string {
	t.Helper()
	l, err := cl.kube.CoordinationV1().Leases(installer.LeaseNamespace).Get(ctx, installer.LeaseName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return ptr.Deref(l.Spec.HolderIdentity, "")
}

// TestConcurrentRuns: one installer run at a time per cluster. A second
// run (in-process, as a real `meshbundle` process, or a gateway command)
// while one is in flight is refused before it changes anything, naming the
// holder; once the first is done the lease is free; a lease whose holder
// stopped renewing it is taken over, a fresh one is not (the control).
func TestConcurrentRuns(t *testing.T) {
	c := testcluster.Shared(t)
	cl := newClients(t, c)
	ctx := context.Background()
	bin := testcluster.Build(t, "meshbundle")

	step(t, "second run refused while the first is in flight", func(t *testing.T) {
		// Run A (an uninstall: quick on this clean cluster) stops in its
		// addons phase, holding the lease, until B has been refused.
		inFlight, resume := make(chan struct{}), make(chan struct{})
		type outcome struct {
			res *installer.Result
			err error
		}
		first := make(chan outcome, 1)
		go func() {
			opts := options(c, func(e installer.Event) {
				if e.Phase == installer.PhaseAddons && e.State == "" {
					close(inFlight)
					<-resume
				}
			})
			res, err := installer.Uninstall(ctx, opts)
			first <- outcome{res, err}
		}()
		select {
		case <-inFlight:
		case o := <-first:
			t.Fatalf("run A ended before its addons phase: %v", o.err)
		case <-time.After(time.Minute):
			t.Fatal("run A did not reach its addons phase in a minute")
		}
		holder := leaseHolder(ctx, t, cl)
		if !strings.HasPrefix(holder, "meshbundle uninstall on ") {
			t.Errorf("lease holder %q, want run A's identity", holder)
		}

		// B in-process: an install.
		res, err := installer.Install(ctx, options(c, nil))
		var locked *installer.LockedError
		if !errors.As(err, &locked) {
			t.Fatalf("concurrent install: %v, want a LockedError", err)
		}
		if locked.Holder != holder || time.Since(locked.Since) > time.Minute || !strings.Contains(err.Error(), "since") {
			t.Errorf("refusal %q (holder %q since %s), want holder %q and since when", err, locked.Holder, locked.Since, holder)
		}
		for _, p := range res.Phases {
			if p.Phase != installer.PhaseValidate && p.State != installer.StatePending {
				t.Errorf("phase %s %s: the refused run must change nothing", p.Phase, p.State)
			}
		}
		if _, err := cl.kube.CoreV1().Namespaces().Get(ctx, "istio-system", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("namespace istio-system after the refused install: %v, want not found", err)
		}

		// B as a real process: its own exit code, the holder on stderr.
		for _, args := range [][]string{{"install", "--wait"}, {"uninstall"}, {"gateway", "add", "pub", "-n", "shop2"}} {
			cmd := exec.Command(bin, append(args, "--kubeconfig", c.Kubeconfig)...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 5 {
				t.Errorf("meshbundle %v: %v, want exit code 5; stderr:\n%s", args, err, stderr.String())
			}
			if !strings.Contains(stderr.String(), holder) {
				t.Errorf("meshbundle %v stderr lacks the holder %q:\n%s", args, holder, stderr.String())
			}
		}

		// B as the gateway library.
		if _, err := gateway.Add(ctx, gateway.Target{Kubeconfig: c.Kubeconfig}, gateway.AddOptions{Name: "pub", Namespace: "shop2"}); !errors.As(err, &locked) {
			t.Errorf("gateway add while locked: %v, want a LockedError", err)
		}

		close(resume)
		if o := <-first; o.err != nil {
			t.Fatalf("run A: %v", o.err)
		}
		if h := leaseHolder(ctx, t, cl); h != "" {
			t.Errorf("lease holder %q after run A, want released", h)
		}
		if _, err := installer.Uninstall(ctx, options(c, nil)); err != nil {
			t.Errorf("a run after A finished: %v, want it to proceed", err)
		}
	})

	step(t, "unlock needs the lease", func(t *testing.T) {
		cluster, err := installer.Connect(installer.Options{Kubeconfig: c.Kubeconfig})
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := cluster.Helm("istio-system")
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := cluster.Unlock(cfg, installer.ReleaseIstiod); err == nil || !strings.Contains(err.Error(), "lease is not held") {
			t.Errorf("Unlock without the lease: %v, want refused", err)
		}
		_, release, err := cluster.Lock(ctx, "test")
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := cluster.Unlock(cfg, installer.ReleaseIstiod); err != nil {
			t.Errorf("Unlock under the lease: %v", err)
		}
		if err := release(); err != nil {
			t.Error(err)
		}
	})

	cases := []struct {
		name      string        // subtest name
		renewed   time.Duration // how long ago the holder last renewed (duration 30 s)
		wantTaken bool          // the new run takes the lease over
	}{
		{name: "stale lease taken over", renewed: 2 * time.Minute, wantTaken: true},
		{name: "fresh lease refused", renewed: 5 * time.Second, wantTaken: false},
	}
	for _, tc := range cases {
		step(t, tc.name, func(t *testing.T) {
			writeLease(ctx, t, cl, "meshbundle install on gone-host pid 1 (dead)", time.Now().Add(-tc.renewed))
			t.Cleanup(func() { writeLease(ctx, t, cl, "", time.Now()) })
			res, err := installer.Uninstall(ctx, options(c, nil))
			var locked *installer.LockedError
			switch {
			case tc.wantTaken && err != nil:
				t.Fatalf("uninstall over a stale lease: %v", err)
			case tc.wantTaken && !strings.Contains(strings.Join(res.Warnings, "\n"), "took over the lease kube-system/meshbundle-installer from meshbundle install on gone-host"):
				t.Errorf("warnings %q, want the takeover reported", res.Warnings)
			case !tc.wantTaken && !errors.As(err, &locked):
				t.Errorf("uninstall over a fresh lease: %v, want a LockedError", err)
			case !tc.wantTaken && locked.Holder != "meshbundle install on gone-host pid 1 (dead)":
				t.Errorf("refusal names %q", locked.Holder)
			}
		})
	}
}
