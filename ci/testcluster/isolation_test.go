package testcluster_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/meshbundle/meshbundle/ci/netns"
	"github.com/meshbundle/meshbundle/ci/testcluster"
)

// helperEnv makes this test binary play a helper for one of its own tests.
const helperEnv = "MESHBUNDLE_TESTCLUSTER_HELPER"

// helperMain is TestMain for a helper run: "refuse" runs where its test put
// it (a namespace with a routed interface); "cluster" enters a namespace of
// its own, as every test binary does.
func helperMain(m *testing.M, role string) {
	switch role {
	case "cluster":
		testcluster.Isolated(m, nil)
	default:
		os.Exit(m.Run())
	}
}

// Fail closed: where a route leads anywhere but lo, Start refuses before it
// starts anything, with the reason and the fix.
func TestStartRefusesOutsideItsNamespace(t *testing.T) {
	cmd := exec.Command("sh", "-c", `ip link add v0 type veth peer name v1 && ip addr add 198.51.100.10/24 dev v0 &&
		ip link set v0 up && ip link set v1 up && exec "$0" -test.run='^TestHelperRefuse$'`, os.Args[0])
	cmd.Env = append(os.Environ(), helperEnv+"=refuse")
	// A network namespace of this test's own: the veth pair lives and dies in it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET, Pdeathsig: syscall.SIGKILL}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	for _, want := range []string{"Start: netns: refusing to start the local control plane", "routes through v0", "as root", "started nothing"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestHelperRefuse(t *testing.T) {
	if os.Getenv(helperEnv) != "refuse" {
		t.Skip("helper for TestStartRefusesOutsideItsNamespace")
	}
	dir := t.TempDir()
	c, err := testcluster.Start(context.Background(), testcluster.WithPods(), testcluster.InDir(dir))
	if err == nil {
		_ = c.Stop()
		t.Fatal("Start succeeded in a namespace with a routed interface")
	}
	fmt.Println("Start:", err)
	if entries, _ := os.ReadDir(dir); len(entries) == 0 {
		fmt.Println("started nothing")
	}
}

// Nothing outlives the run: a test binary killed with SIGKILL while its
// cluster runs takes every process of that cluster with it.
func TestKilledBinaryLeavesNothing(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperCluster$", "-test.timeout=5m")
	// Not inside any namespace yet, as go test starts a binary: it enters
	// one of its own.
	cmd.Env = append(netns.OutsideEnv(), helperEnv+"=cluster")
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if sc.Text() == "CLUSTER READY" {
				ready <- true
				return
			}
		}
		ready <- false
	}()
	select {
	case ok := <-ready:
		if !ok {
			t.Fatal("helper exited before its cluster was ready")
		}
	case <-time.After(3 * time.Minute):
		t.Fatal("helper's cluster not ready after 3 minutes")
	}

	// The helper's namespace: the one its child (the re-executed binary,
	// init of that PID namespace) is in.
	init := childOf(t, cmd.Process.Pid)
	pidns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", init))
	if err != nil {
		t.Fatal(err)
	}
	before := livingIn(pidns)
	// The control: the helper's cluster is there to be killed (init, etcd,
	// kube-apiserver, controller-manager, scheduler, kwok).
	for _, want := range []string{"etcd", "kube-apiserver", "kube-controller", "kube-scheduler", "kwok"} {
		if !containsPrefix(before, want) {
			t.Fatalf("helper's namespace holds %v; want %s among them", before, want)
		}
	}

	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	deadline := time.Now().Add(20 * time.Second)
	for {
		left := livingIn(pidns)
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("20 s after SIGKILL of the test binary, its cluster's processes still run: %v", left)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestHelperCluster(t *testing.T) {
	if os.Getenv(helperEnv) != "cluster" {
		t.Skip("helper for TestKilledBinaryLeavesNothing")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, err := testcluster.Start(ctx, testcluster.WithPods())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	fmt.Println("CLUSTER READY")
	time.Sleep(2 * time.Minute) // killed long before
}

// While the shared cluster (istiod, pods) serves a Service with Ready pods,
// every socket of the namespace has a peer inside it. (Isolated checks the
// same all along the run; netns's tests show a foreign peer is seen.)
func TestNoSocketHasAPeerOutside(t *testing.T) {
	c := testcluster.Shared(t)
	ctx := context.Background()
	ns := c.Namespace(t, map[string]string{"istio-injection": "enabled"})
	if err := c.Client.Create(ctx, deployment(ns, "web", 2)); err != nil {
		t.Fatal(err)
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"},
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}}},
	}
	if err := c.Client.Create(ctx, svc); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitDeploymentAvailable(ctx, ns, "web", 60*time.Second); err != nil {
		t.Fatal(err)
	}
	foreign, err := netns.ForeignPeers()
	if err != nil {
		t.Fatal(err)
	}
	if len(foreign) > 0 {
		t.Errorf("sockets with a peer outside the namespace: %v", foreign)
	}
	// The pods' IPs are the namespace's own (a data plane can serve there).
	for _, p := range podsOf(t, c, ns, "web") {
		if p.Status.PodIP == "" || !strings.HasPrefix(p.Status.PodIP, "10.244.") {
			t.Errorf("pod %s IP %q; want one in %s", p.Name, p.Status.PodIP, netns.PodCIDR)
		}
	}
}

// childOf is the one child process of pid (found by its parent PID: any of
// pid's threads may have forked it).
func childOf(t *testing.T, pid int) int {
	t.Helper()
	var children []int
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range procs {
		stat, err := os.ReadFile(p + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...
		s := string(stat)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			child, _ := strconv.Atoi(filepath.Base(p))
			children = append(children, child)
		}
	}
	if len(children) != 1 {
		t.Fatalf("process %d has children %v; want one", pid, children)
	}
	return children[0]
}

// livingIn lists the commands of the processes (not zombies) in PID
// namespace pidns.
func livingIn(pidns string) []string {
	var out []string
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range procs {
		if ns, err := os.Readlink(p + "/ns/pid"); err != nil || ns != pidns {
			continue
		}
		stat, err := os.ReadFile(p + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ...
		s := string(stat)
		open, closing := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || closing < open || closing+2 >= len(s) || s[closing+2] == 'Z' {
			continue
		}
		out = append(out, s[open+1:closing])
	}
	return out
}

func containsPrefix(list []string, prefix string) bool {
	for _, s := range list {
		if strings.HasPrefix(s, prefix) {
			return true
		}
	}
	return false
}
