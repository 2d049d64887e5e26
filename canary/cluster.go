package canary

import (
	"context"
	"fmt"
	"slices"
	"strings"

	istioclient "istio.io/client-go/pkg/clientset/versioned"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	gatewayclient "sigs.k8s.io/gateway-api/pkg/client/clientset/versioned"

	"github.com/meshbundle/meshbundle/appmesh"
	"github.com/meshbundle/meshbundle/failure"
	"github.com/meshbundle/meshbundle/renderer"
	"github.com/meshbundle/meshbundle/rollout"
)

// Applied waits until the app's state ConfigMap (written by the renderer's
// state filter) holds the step's canary: the step reached the cluster.
// In GitOps mode that is the moment Argo CD synced the commit, so two
// commits never collapse into one apply.
const Applied CondKind = "Applied"

// Cluster reads what the canary needs from the API server.
type Cluster struct {
	Client    kubernetes.Interface
	Namespace string
	App       string
	// Gateway reads the Gateway API routes of an app with routeAPI
	// gateway-api (status); nil is enough for apps with VirtualServices.
	Gateway gatewayclient.Interface
	// Istio reads the app's VirtualServices and DestinationRules, whose
	// status and versions the gate after each step checks (effect.go);
	// nil: the gate cannot tell and waits the settle delay.
	Istio istioclient.Interface
	// Istiod reads istiod's debug endpoints: whether istiod holds the
	// step's objects and the app's proxies acknowledged them (istiod.go);
	// nil: the settle delay instead.
	Istiod Istiod
	// WaitNamespaceOnly makes the gate wait only for the proxies of
	// Namespace, as it did before issue 18 (clients of the app in other
	// namespaces not waited for). Not a user option: it is the negative
	// control of ci/dataplane/e2e TestSlowPush.
	WaitNamespaceOnly bool
}

// AppliedAppMesh reads the AppMesh from the ConfigMap meshbundle-<app>;
// nil when there is none.
func (c *Cluster) AppliedAppMesh(ctx context.Context) (*appmesh.AppMesh, error) {
	cm, err := c.Client.CoreV1().ConfigMaps(c.Namespace).Get(ctx, renderer.StateConfigMapName(c.App), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	am, err := appmesh.Decode([]byte(cm.Data[renderer.StateKey]))
	if err != nil {
		return nil, fmt.Errorf("ConfigMap %s/%s key %s: %w", c.Namespace, cm.Name, renderer.StateKey, err)
	}
	return am, nil
}

// CheckTarget is bad input when the Deployment does not exist.
func (c *Cluster) CheckTarget(ctx context.Context, name string) error {
	_, err := c.Client.AppsV1().Deployments(c.Namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		list, lerr := c.Client.AppsV1().Deployments(c.Namespace).List(ctx, metav1.ListOptions{})
		var names []string
		if lerr == nil {
			for _, d := range list.Items {
				if d.Labels[renderer.CanaryOfLabel] == "" {
					names = append(names, d.Name)
				}
			}
		}
		return &failure.BadInputError{Err: fmt.Errorf("--deployment %q: no such Deployment in namespace %s (fix: use one of: %s)", name, c.Namespace, strings.Join(names, ", "))}
	}
	return err
}

// ChartImage is the image the chart renders for the container of the
// target (the first when container is empty): the live image, unless a
// promotion in am pins it, then the image that promotion replaced. It is
// recorded at start so that the promotion applies only while the chart
// still renders it.
func (c *Cluster) ChartImage(ctx context.Context, am *appmesh.AppMesh, target, container string) (string, error) {
	d, err := c.Client.AppsV1().Deployments(c.Namespace).Get(ctx, target, metav1.GetOptions{})
	if err != nil {
		return "", fmt.Errorf("read Deployment %s/%s: %w", c.Namespace, target, err)
	}
	live := ""
	for i, ct := range d.Spec.Template.Spec.Containers {
		if (container == "" && i == 0) || ct.Name == container {
			live = ct.Image
		}
	}
	for _, p := range am.Spec.Promoted {
		if p.Deployment == target && p.Image == live {
			return p.Replaces, nil
		}
	}
	return live, nil
}

// Check reports whether a condition holds, and if not, what it saw.
func (c *Cluster) Check(ctx context.Context, cond Condition) (bool, string, error) {
	switch cond.Kind {
	case Applied:
		am, err := c.AppliedAppMesh(ctx)
		if err != nil {
			return false, "", err
		}
		if am == nil {
			return false, "no state ConfigMap " + renderer.StateConfigMapName(c.App), nil
		}
		return sameCanary(am, cond.Config), fmt.Sprintf("applied canary %s", describe(am.Spec.Canary)), nil
	case DeploymentGone:
		_, err := c.Client.AppsV1().Deployments(c.Namespace).Get(ctx, cond.Deployment, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, "", nil
		}
		return false, "still exists", err
	default:
		d, err := c.Client.AppsV1().Deployments(c.Namespace).Get(ctx, cond.Deployment, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, "not created yet", nil
		}
		if err != nil {
			return false, "", err
		}
		if cond.Label != "" {
			if _, ok := d.Spec.Template.Labels[cond.Label]; !ok {
				return false, "pod template has no label " + cond.Label + " yet", nil
			}
		}
		if cond.Image != "" && !slices.ContainsFunc(d.Spec.Template.Spec.Containers, func(ct corev1.Container) bool { return ct.Image == cond.Image }) {
			return false, "pod template does not run " + cond.Image + " yet", nil
		}
		ok, detail := rollout.DeploymentDone(d)
		return ok, detail, nil
	}
}

// sameCanary compares the canary state of two AppMesh documents.
func sameCanary(a, b *appmesh.AppMesh) bool {
	ca, cb := a.Spec.Canary, b.Spec.Canary
	if (ca == nil) != (cb == nil) {
		return false
	}
	if ca != nil && *ca != *cb {
		return false
	}
	return slices.Equal(a.Spec.Promoted, b.Spec.Promoted)
}

func describe(c *appmesh.Canary) string {
	if c == nil {
		return "none"
	}
	return fmt.Sprintf("%s %s phase %s weight %d", c.Target, c.Version, c.Phase, c.Weight)
}

func describePromoted(ps []appmesh.Promotion) string {
	if len(ps) == 0 {
		return "none"
	}
	s := ""
	for i, p := range ps {
		if i > 0 {
			s += ", "
		}
		s += p.Deployment + "=" + p.Image
	}
	return s
}
