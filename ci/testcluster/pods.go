package testcluster

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// FakeNodeName is the node kwok runs pods on.
const FakeNodeName = "kwok-node-0"

// kwokNodeAnnotation marks the nodes kwok manages (and only those).
const kwokNodeAnnotation = "kwok.x-k8s.io/node"

// kwokStages are the stage files ci/tools.sh copies into kwok-stages/ beside
// the kwok binary:
// what a fake node and a pod go through (initialize, ready, complete, delete).
var kwokStages = []string{"node-initialize.yaml", "pod-ready.yaml", "pod-complete.yaml", podDeleteStage}

// podDeleteStage removes a deleted pod; WithPodTermination replaces it.
const podDeleteStage = "pod-delete.yaml"

// writePodDeleteStage writes kwok's pod-delete stage with a delay: a deleted
// pod stays (Terminating, its IP taken) for d before kwok removes it.
func (c *Cluster) writePodDeleteStage(d time.Duration) (string, error) {
	stage := fmt.Sprintf(`apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: pod-delete
spec:
  resourceRef:
    apiGroup: v1
    kind: Pod
  selector:
    matchExpressions:
    - key: '.metadata.deletionTimestamp'
      operator: 'Exists'
  delay:
    durationMilliseconds: %d
  next:
    delete: true
`, d.Milliseconds())
	path := filepath.Join(c.Dir, "kwok-pod-delete.yaml")
	if err := os.WriteFile(path, []byte(stage), 0o600); err != nil {
		return "", fmt.Errorf("kwok pod-delete stage: %w", err)
	}
	return path, nil
}

// startPods starts kube-controller-manager, kube-scheduler and kwok, registers
// the fake node, and waits until the node is Ready and controllers create
// ServiceAccounts (pods are admitted only then).
func (c *Cluster) startPods(ctx context.Context) error {
	api := c.env.ControlPlane.GetAPIServer()
	caFile := filepath.Join(c.Dir, "ca.crt")
	if err := os.WriteFile(caFile, api.SecureServing.CA, 0o600); err != nil {
		return err
	}
	saKey := filepath.Join(api.CertDir, "sa-signer.key")
	kc := c.Kubeconfig

	kcmPort, err := freePort()
	if err != nil {
		return err
	}
	if err := c.start("kube-controller-manager", []string{
		"--kubeconfig=" + kc, "--authentication-kubeconfig=" + kc, "--authorization-kubeconfig=" + kc,
		"--leader-elect=false", "--bind-address=127.0.0.1", "--secure-port=" + strconv.Itoa(kcmPort),
		"--service-account-private-key-file=" + saKey, "--root-ca-file=" + caFile,
		"--use-service-account-credentials=false",
		// kwok plays the kubelet but renews no node Lease here and posts node
		// status only every ~55 s, longer than the default node monitor grace
		// period: the node lifecycle controller would mark the node and every
		// pod on it NotReady mid-test, and kwok never makes those pods Ready
		// again. Tests do not exercise node failure; the controller still
		// runs, because it lifts the not-ready taint a new node starts with.
		"--node-monitor-grace-period=1h",
		// Tests create and delete many objects quickly; do not throttle.
		"--kube-api-qps=200", "--kube-api-burst=400",
	}, nil); err != nil {
		return err
	}

	schedPort, err := freePort()
	if err != nil {
		return err
	}
	if err := c.start("kube-scheduler", []string{
		"--kubeconfig=" + kc, "--authentication-kubeconfig=" + kc, "--authorization-kubeconfig=" + kc,
		"--leader-elect=false", "--bind-address=127.0.0.1", "--secure-port=" + strconv.Itoa(schedPort),
	}, nil); err != nil {
		return err
	}

	binDir, err := BinDir()
	if err != nil {
		return err
	}
	kwokAddr, err := freeAddr()
	if err != nil {
		return err
	}
	args := []string{
		"--kubeconfig=" + kc,
		"--manage-all-nodes=false",
		"--manage-nodes-with-annotation-selector=" + kwokNodeAnnotation + "=fake",
		// kwok's default pod CIDR overlaps the service range.
		"--cidr=10.244.0.0/16",
		"--node-ip=127.0.0.1",
		"--server-address=" + kwokAddr,
	}
	for _, stage := range kwokStages {
		path := filepath.Join(binDir, "kwok-stages", stage)
		if _, err := os.Stat(path); err != nil {
			return fmt.Errorf("kwok stage %s missing beside the kwok binary: rebuild with ci/tools.sh kwok: %w", stage, err)
		}
		if stage == podDeleteStage && c.opts.podTermination > 0 {
			if path, err = c.writePodDeleteStage(c.opts.podTermination); err != nil {
				return err
			}
		}
		args = append(args, "--config="+path)
	}
	if err := c.start("kwok", args, nil); err != nil {
		return err
	}

	if err := c.Client.Create(ctx, fakeNode()); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create fake node: %w", err)
	}
	wait, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := poll(wait, 100*time.Millisecond, "fake node Ready", c.allAlive(func(ctx context.Context) (bool, error) {
		var node corev1.Node
		if err := c.Client.Get(ctx, types.NamespacedName{Name: FakeNodeName}, &node); err != nil {
			return false, err
		}
		for _, cond := range node.Status.Conditions {
			if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
				return true, nil
			}
		}
		return false, nil
	})); err != nil {
		return err
	}
	return poll(wait, 100*time.Millisecond, "ServiceAccount default/default (controller-manager running)", c.allAlive(func(ctx context.Context) (bool, error) {
		var sa corev1.ServiceAccount
		err := c.Client.Get(ctx, types.NamespacedName{Namespace: "default", Name: "default"}, &sa)
		return err == nil, err
	}))
}

// start launches one component and remembers it for Stop and Logs.
func (c *Cluster) start(name string, args, env []string) error {
	bin, err := Bin(name)
	if err != nil {
		return err
	}
	p, err := startProcess(c.Dir, name, bin, args, env)
	if err != nil {
		return err
	}
	c.procs = append(c.procs, p)
	return nil
}

// allAlive fails a wait at once when any component we started has exited.
func (c *Cluster) allAlive(check func(ctx context.Context) (bool, error)) func(ctx context.Context) (bool, error) {
	return func(ctx context.Context) (bool, error) {
		for _, p := range c.procs {
			if done, err := p.exited(); done {
				return false, fmt.Errorf("%s: %w (%v); last log lines:\n%s", p.name, errExited, err, p.tail(30))
			}
		}
		return check(ctx)
	}
}

func fakeNode() *corev1.Node {
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("64"),
		corev1.ResourceMemory: resource.MustParse("256Gi"),
		corev1.ResourcePods:   resource.MustParse("2000"),
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name: FakeNodeName,
			Annotations: map[string]string{
				kwokNodeAnnotation:             "fake",
				"node.alpha.kubernetes.io/ttl": "0",
			},
			Labels: map[string]string{
				"kubernetes.io/hostname": FakeNodeName,
				"kubernetes.io/os":       "linux",
				"kubernetes.io/arch":     "amd64",
				"type":                   "kwok",
			},
		},
		Status: corev1.NodeStatus{Capacity: capacity, Allocatable: capacity},
	}
}
