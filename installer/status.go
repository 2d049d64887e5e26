package installer

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"helm.sh/helm/v3/pkg/storage/driver"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshbundle/meshbundle/installer/gatewayapi"
	"github.com/meshbundle/meshbundle/rollout"
)

// ReleaseStatus is one release as the cluster has it.
type ReleaseStatus struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	Phase     Phase  `json:"phase"`
	// Status is Helm's (deployed, failed, pending-install, ...), "absent",
	// or "external" for gateway-api-crds when the cluster has the Gateway
	// API CRDs from someone else (install leaves them as they are).
	Status   string `json:"status"`
	Revision int    `json:"revision,omitempty"`
	Chart    string `json:"chart,omitempty"`
	Updated  string `json:"updated,omitempty"`
	// Workload is the Deployment (or, for the CNI agent, the DaemonSet)
	// checked for readiness, Ready its state.
	Workload string `json:"workload,omitempty"`
	Ready    *bool  `json:"ready,omitempty"`
	Message  string `json:"message,omitempty"`
}

// StatusReport says, release by release, how far the cluster is installed.
type StatusReport struct {
	Releases []ReleaseStatus `json:"releases"`
	// Installed is true when every planned release is deployed and every
	// workload ready.
	Installed bool `json:"installed"`
}

// Status reads each planned release and workload from the cluster; it writes
// nothing.
func Status(ctx context.Context, opts Options) (*StatusReport, error) {
	plan, err := NewPlan(opts.Source)
	if err != nil {
		return nil, err
	}
	if opts.Timeout == 0 {
		opts.Timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	cl, err := connect(opts)
	if err != nil {
		return nil, err
	}
	rep := &StatusReport{Installed: true}
	for _, rel := range plan.Releases {
		st := ReleaseStatus{Name: rel.Name, Namespace: rel.Namespace, Phase: rel.Phase, Status: "absent", Workload: rel.Workload}
		cfg, err := cl.helmConfig(rel.Namespace)
		if err != nil {
			return nil, err
		}
		last, err := cfg.Releases.Last(rel.Name)
		switch {
		case errors.Is(err, driver.ErrReleaseNotFound):
		case err != nil:
			return nil, classify(fmt.Errorf("release %s/%s: %w", rel.Namespace, rel.Name, err), "status")
		default:
			st.Status = last.Info.Status.String()
			st.Revision = last.Version
			st.Chart = last.Chart.Metadata.Name + "-" + last.Chart.Metadata.Version
			st.Updated = last.Info.LastDeployed.UTC().Format(time.RFC3339)
		}
		if st.Status == "absent" && rel.Name == ReleaseGatewayAPI {
			// Left out by install when the cluster has the CRDs from
			// someone else; refused when they are too old.
			present, err := cl.gatewayCRDsPresent(ctx)
			if err != nil {
				return nil, classify(err, "status")
			}
			d, err := gatewayapi.Decide(present, rel.Namespace, rel.Name)
			switch {
			case err != nil:
				st.Message = err.Error()
			case d.Action == gatewayapi.Keep:
				st.Status = "external"
				st.Message = "Gateway API CRDs " + strings.Join(d.Versions, ", ") + " installed by someone else; left as they are"
			}
		}
		if st.Status != "deployed" && st.Status != "external" {
			rep.Installed = false
		}
		if rel.DaemonSet != "" {
			ready := false
			ds, err := cl.kube.AppsV1().DaemonSets(rel.Namespace).Get(ctx, rel.DaemonSet, metav1.GetOptions{})
			switch {
			case apierrors.IsNotFound(err):
				st.Message = "daemonset not found"
			case err != nil:
				return nil, classify(fmt.Errorf("daemonset %s/%s: %w", rel.Namespace, rel.DaemonSet, err), "status")
			default:
				ready, st.Message = rollout.DaemonSetDone(ds)
			}
			st.Workload, st.Ready = rel.DaemonSet, &ready
			rep.Installed = rep.Installed && ready
		}
		if rel.Workload != "" {
			ready := false
			d, err := cl.kube.AppsV1().Deployments(rel.Namespace).Get(ctx, rel.Workload, metav1.GetOptions{})
			switch {
			case apierrors.IsNotFound(err):
				st.Message = "deployment not found"
			case err != nil:
				return nil, classify(fmt.Errorf("deployment %s/%s: %w", rel.Namespace, rel.Workload, err), "status")
			default:
				ready, st.Message = rollout.DeploymentDone(d)
			}
			st.Ready = &ready
			rep.Installed = rep.Installed && ready
		}
		rep.Releases = append(rep.Releases, st)
	}
	return rep, nil
}
