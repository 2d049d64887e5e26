package testcluster

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/yaml"
)

// WithGatewayAPICRDs installs the Gateway API CRDs of the standard channel
// (InstallGatewayAPICRDs) before istiod starts, so istiod's Gateway API
// controller (PILOT_ENABLE_GATEWAY_API, on by default) serves HTTPRoutes,
// GRPCRoutes and TCPRoutes from the first push.
func WithGatewayAPICRDs() Option { return func(o *options) { o.gatewayAPI = true } }

// InstallGatewayAPICRDs creates the Gateway API CRDs of the standard
// channel that the sigs.k8s.io/gateway-api module in go.mod ships
// (config/crd/standard; the ValidatingAdmissionPolicy beside them is left
// out) and waits until they are served. It is the harness's minimum, not
// the product's installer (which installs them for its profiles itself).
func (c *Cluster) InstallGatewayAPICRDs(ctx context.Context) error {
	dir, err := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Dir}}", "sigs.k8s.io/gateway-api").Output()
	if err != nil {
		return fmt.Errorf("testcluster: locate the sigs.k8s.io/gateway-api module (go list -m): %w", err)
	}
	files, err := filepath.Glob(filepath.Join(strings.TrimSpace(string(dir)), "config", "crd", "standard", "gateway.networking.k8s.io_*.yaml"))
	if err != nil || len(files) == 0 {
		return fmt.Errorf("testcluster: no Gateway API CRDs under %s/config/crd/standard (%v)", strings.TrimSpace(string(dir)), err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		var crd apiextensionsv1.CustomResourceDefinition
		if err := yaml.Unmarshal(data, &crd); err != nil {
			return fmt.Errorf("testcluster: %s: %w", f, err)
		}
		if crd.Kind != "CustomResourceDefinition" {
			continue
		}
		if err := c.Client.Create(ctx, &crd); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("testcluster: create CRD %s: %w", crd.Name, err)
		}
	}
	return c.waitCRDsEstablished(ctx, "gateway.networking.k8s.io")
}
