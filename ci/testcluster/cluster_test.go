package testcluster_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	networkingapi "istio.io/api/networking/v1"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/meshbundle/meshbundle/ci/testcluster"
	"github.com/meshbundle/meshbundle/rollout"
)

// One control plane for this binary, with pods (kwok) and a real istiod.
func TestMain(m *testing.M) {
	if role := os.Getenv(helperEnv); role != "" {
		helperMain(m, role) // this binary plays a helper of isolation_test.go
		return
	}
	testcluster.Main(m, testcluster.WithIstiod())
}

// deployment builds a one-container Deployment labelled app=<name>.
func deployment(ns, name string, replicas int32) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name:  name,
					Image: "registry.k8s.io/e2e-test-images/agnhost:2.53",
					Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
				}}},
			},
		},
	}
}

func podsOf(t *testing.T, c *testcluster.Cluster, ns, app string) []corev1.Pod {
	t.Helper()
	var pods corev1.PodList
	if err := c.Client.List(context.Background(), &pods, client.InNamespace(ns), client.MatchingLabels{"app": app}); err != nil {
		t.Fatalf("list pods of %s/%s: %v", ns, app, err)
	}
	return pods.Items
}

func podReady(p corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

// A Deployment rolls out for real: the controller-manager makes a ReplicaSet
// and pods, the scheduler binds them to kwok's node, kwok makes them Ready.
func TestDeploymentBecomesAvailable(t *testing.T) {
	c := testcluster.Shared(t)
	ctx := context.Background()
	ns := c.Namespace(t, nil)
	start := time.Now()
	if err := c.Client.Create(ctx, deployment(ns, "hello", 3)); err != nil {
		t.Fatal(err)
	}
	d, err := c.WaitDeploymentAvailable(ctx, ns, "hello", 60*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Deployment Available with %d ready replicas in %s", d.Status.ReadyReplicas, time.Since(start).Round(time.Millisecond))
	pods := podsOf(t, c, ns, "hello")
	if len(pods) != 3 {
		t.Fatalf("want 3 pods, got %d", len(pods))
	}
	for _, p := range pods {
		if p.Spec.NodeName != testcluster.FakeNodeName || !podReady(p) || p.Status.Phase != corev1.PodRunning {
			t.Errorf("pod %s: node %q phase %s ready %v; want Running and Ready on %s", p.Name, p.Spec.NodeName, p.Status.Phase, podReady(p), testcluster.FakeNodeName)
		}
	}
}

// The real helm CLI, built from helm.sh/helm/v3 by ci/tools.sh, installs the
// example chart and its Deployments become Available.
func TestHelmCLIInstallsExampleApp(t *testing.T) {
	c := testcluster.Shared(t)
	helm, err := testcluster.Bin("helm")
	if err != nil {
		t.Fatal(err)
	}
	root, err := testcluster.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	ns := c.Namespace(t, nil)
	cmd := exec.Command(helm, "install", "example", filepath.Join(root, "charts", "example-app"),
		"--kubeconfig", c.Kubeconfig, "--namespace", ns, "--wait", "--timeout", "60s")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helm install: %v\n%s", err, out)
	}
	for _, name := range []string{"web", "api"} {
		if _, err := c.WaitDeploymentAvailable(context.Background(), ns, name, 30*time.Second); err != nil {
			t.Error(err)
		}
	}
	out, err = exec.Command(helm, "status", "example", "--kubeconfig", c.Kubeconfig, "--namespace", ns).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "STATUS: deployed") {
		t.Errorf("helm status: %v\n%s", err, out)
	}
}

// With Istio's charts installed and the local istiod running, a pod in an
// injected namespace gets istiod's real sidecar, and istiod's validation
// webhook rejects an invalid VirtualService.
func TestIstiodInjectsAndValidates(t *testing.T) {
	c := testcluster.Shared(t)
	ctx := context.Background()
	ns := c.Namespace(t, map[string]string{"istio-injection": "enabled"})

	if err := c.Client.Create(ctx, deployment(ns, "injected", 1)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitDeploymentAvailable(ctx, ns, "injected", 60*time.Second); err != nil {
		t.Fatal(err)
	}
	pods := podsOf(t, c, ns, "injected")
	if len(pods) != 1 {
		t.Fatalf("want 1 pod, got %d", len(pods))
	}
	if !testcluster.HasSidecar(pods[0]) {
		t.Errorf("pod %s: want istio-proxy injected by istiod, got init containers %v, containers %v", pods[0].Name, pods[0].Spec.InitContainers, pods[0].Spec.Containers)
	}
	if pods[0].Annotations["sidecar.istio.io/status"] == "" {
		t.Errorf("pod %s has no sidecar.istio.io/status annotation: not injected by istiod", pods[0].Name)
	}

	bad := &networkingv1.VirtualService{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "bad-weight"},
		Spec: networkingapi.VirtualService{
			Hosts: []string{"injected"},
			Http: []*networkingapi.HTTPRoute{{Route: []*networkingapi.HTTPRouteDestination{{
				Destination: &networkingapi.Destination{Host: "injected"},
				Weight:      -1,
			}}}},
		},
	}
	err := c.Client.Create(ctx, bad)
	if err == nil {
		t.Fatal("VirtualService with weight -1 was accepted; want istiod's validation webhook to reject it")
	}
	if !strings.Contains(err.Error(), "validation.istio.io") {
		t.Errorf("VirtualService rejected, but not by istiod's webhook: %v", err)
	}
	t.Logf("rejected as expected: %v", err)

	good := bad.DeepCopy()
	good.Name = "good-weight"
	good.Spec.Http[0].Route[0].Weight = 100
	if err := c.Client.Create(ctx, good); err != nil {
		t.Errorf("valid VirtualService rejected: %v", err)
	}
}

// Pods stay Ready for longer than the controller-manager's default node
// monitor grace period (50 s): kwok posts node status only every ~55 s and
// renews no Lease, so with default settings the node lifecycle controller
// marked the node and its pods NotReady mid-test, and long tests hung waiting
// for Deployments that never became Available again.
func TestPodsStayReadyPastNodeGracePeriod(t *testing.T) {
	t.Parallel()
	c := testcluster.Shared(t)
	ctx := context.Background()
	ns := c.Namespace(t, nil)
	if err := c.Client.Create(ctx, deployment(ns, "steady", 1)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitDeploymentAvailable(ctx, ns, "steady", 60*time.Second); err != nil {
		t.Fatal(err)
	}
	time.Sleep(70 * time.Second)
	var node corev1.Node
	if err := c.Client.Get(ctx, client.ObjectKey{Name: testcluster.FakeNodeName}, &node); err != nil {
		t.Fatal(err)
	}
	if len(node.Spec.Taints) != 0 {
		t.Errorf("node %s tainted %v", node.Name, node.Spec.Taints)
	}
	for _, p := range podsOf(t, c, ns, "steady") {
		if !podReady(p) {
			t.Errorf("pod %s no longer Ready after 70 s: %+v", p.Name, p.Status.Conditions)
		}
	}
	d := &appsv1.Deployment{}
	if err := c.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "steady"}, d); err != nil {
		t.Fatal(err)
	}
	if done, why := rollout.DeploymentDone(d); !done {
		t.Errorf("Deployment no longer Available after 70 s (%s): %+v", why, d.Status)
	}
}
