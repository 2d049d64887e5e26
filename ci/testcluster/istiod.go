package testcluster

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/cli-runtime/pkg/genericclioptions"

	"github.com/meshbundle/meshbundle/installer"
)

// IstioNamespace is where the local istiod and Istio's charts live.
const IstioNamespace = "istio-system"

// Webhook configurations Istio's istiod chart renders for the default revision.
const (
	injectorWebhookName  = "istio-sidecar-injector"
	validatorWebhookName = "istio-validator-istio-system"
)

// InstallIstioCharts installs Istio's base (CRDs) and istiod charts, embedded
// in the pinned istio.io/istio module, with the Helm SDK as releases
// istio-base and istiod, and waits until the CRDs are served. The istiod
// Deployment it creates only runs on kwok's fake node; the real istiod is the
// local process StartIstiod runs.
//
// This is the minimum the harness needs; the product's installer (installer/)
// is tested on its own.
func (c *Cluster) InstallIstioCharts(ctx context.Context) error {
	for _, rel := range []struct{ name, chartDir string }{
		{"istio-base", "charts/base"},
		{"istiod", "charts/istio-control/istio-discovery"},
	} {
		if err := c.helmInstall(ctx, rel.name, rel.chartDir, map[string]any{}); err != nil {
			return err
		}
		if rel.name == "istio-base" {
			if err := c.waitCRDsEstablished(ctx, "istio.io"); err != nil {
				return err
			}
		}
	}
	return nil
}

// helmInstall installs one chart from Istio's embedded manifests.
func (c *Cluster) helmInstall(ctx context.Context, release, chartDir string, values map[string]any) error {
	ch, err := LoadIstioChart(chartDir)
	if err != nil {
		return err
	}
	cfg, err := c.HelmConfig(IstioNamespace)
	if err != nil {
		return err
	}
	install := action.NewInstall(cfg)
	install.ReleaseName = release
	install.Namespace = IstioNamespace
	install.CreateNamespace = true
	install.Timeout = 2 * time.Minute
	if _, err := install.RunWithContext(ctx, ch, values); err != nil {
		return fmt.Errorf("helm install %s (%s): %w", release, chartDir, err)
	}
	return nil
}

// HelmConfig is a Helm SDK action configuration for this cluster.
func (c *Cluster) HelmConfig(namespace string) (*action.Configuration, error) {
	flags := genericclioptions.NewConfigFlags(false)
	flags.KubeConfig = &c.Kubeconfig
	flags.Namespace = &namespace
	cfg := new(action.Configuration)
	if err := cfg.Init(flags, namespace, "secret", func(string, ...any) {}); err != nil {
		return nil, fmt.Errorf("helm: init for namespace %s: %w", namespace, err)
	}
	return cfg, nil
}

// LoadIstioChart loads a chart from the charts embedded in istio.io/istio
// (dir relative to its manifests/, e.g. "charts/base") the way the installer
// does, so the harness installs exactly what the product installs.
func LoadIstioChart(dir string) (*chart.Chart, error) {
	return installer.IstioChart(strings.TrimPrefix(dir, "charts/"))
}

// waitCRDsEstablished waits until every CRD of the group suffix is Established
// and every group of theirs is served (a fresh CRD takes a moment to be served).
func (c *Cluster) waitCRDsEstablished(ctx context.Context, groupSuffix string) error {
	wait, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	return poll(wait, 200*time.Millisecond, "CRDs of *."+groupSuffix+" established", func(ctx context.Context) (bool, error) {
		var crds apiextensionsv1.CustomResourceDefinitionList
		if err := c.Client.List(ctx, &crds); err != nil {
			return false, err
		}
		found := map[string]bool{} // the CRDs' groups
		for _, crd := range crds.Items {
			if !strings.HasSuffix(crd.Spec.Group, groupSuffix) {
				continue
			}
			found[crd.Spec.Group] = true
			established := false
			for _, cond := range crd.Status.Conditions {
				if cond.Type == apiextensionsv1.Established && cond.Status == apiextensionsv1.ConditionTrue {
					established = true
				}
			}
			if !established {
				return false, fmt.Errorf("CRD %s not established", crd.Name)
			}
		}
		if len(found) == 0 {
			return false, fmt.Errorf("no CRD of group *.%s", groupSuffix)
		}
		// Served: discovery lists every group of theirs.
		groups, err := discoveryGroups(c)
		if err != nil {
			return false, err
		}
		for g := range found {
			if !groups[g] {
				return false, fmt.Errorf("group %s not served yet", g)
			}
		}
		return true, nil
	})
}

// StartIstiod runs the local istiod (pilot-discovery built from the pinned
// istio.io/istio) against this cluster and waits until it is ready and has
// filled the caBundle of its injection and validation webhooks. Istio's
// charts must be installed (InstallIstioCharts, or the installer under test)
// and the cluster started WithIstiodRoute or WithIstiod.
//
// The webhooks fail closed: stop istiod only after removing injected
// namespaces and Istio objects the test still needs to change.
func (c *Cluster) StartIstiod(ctx context.Context) error {
	return c.StartIstiodBuild(ctx, "pilot-discovery")
}

// StartIstiodBuild is StartIstiod with another pilot-discovery binary built
// by ci/tools.sh: tool is its name there, e.g. "pilot-discovery-prev" (an
// earlier Istio build, for upgrade tests).
func (c *Cluster) StartIstiodBuild(ctx context.Context, tool string) error {
	if c.istiodAddr == "" {
		return fmt.Errorf("testcluster: StartIstiod needs the cluster started WithIstiodRoute() or WithIstiod()")
	}
	if c.istiod != nil {
		return fmt.Errorf("testcluster: istiod already running (pid %d)", c.istiod.PID())
	}
	p, err := c.startIstiodProcess(tool, "istiod", DefaultRevision, c.istiodAddr, c.istiodEnv...)
	if err != nil {
		return err
	}
	c.istiod = p
	return waitIstiod(ctx, p, "istiod", c.istiodAddr, c.webhooksCABundled(injectorWebhookName, validatorWebhookName))
}

// RestartIstiod stops the local istiod and starts it again with env added
// to its environment, e.g. "PILOT_DEBOUNCE_AFTER=4s" for a slow push; with
// no env it runs as StartIstiod does. Its xDS and debug addresses change:
// clients connected before must be made again.
func (c *Cluster) RestartIstiod(ctx context.Context, env ...string) error {
	if err := c.StopIstiod(); err != nil {
		return err
	}
	c.istiodEnv = env
	return c.StartIstiod(ctx)
}

// DefaultRevision is the revision of the istiod StartIstiod runs.
const DefaultRevision = "default"

// startIstiodProcess starts pilot-discovery (the ci/tools.sh binary tool) as
// revision rev of istiod, serving its webhooks on webhookAddr and everything
// else on free loopback ports; it logs to <Dir>/<name>.log. Revision
// "default" is Istio's unrevisioned control plane (release istiod, injector
// istio-sidecar-injector); any other is istiod-<rev> with its own injector.
func (c *Cluster) startIstiodProcess(tool, name, rev, webhookAddr string, extraEnv ...string) (*process, error) {
	bin, err := Bin(tool)
	if err != nil {
		return nil, err
	}
	addrs := map[string]string{}
	for _, flag := range []string{"grpcAddr", "secureGRPCAddr", "monitoringAddr", "httpAddr"} {
		if addrs[flag], err = freeAddr(); err != nil {
			return nil, err
		}
	}
	ctrlz, err := freePort()
	if err != nil {
		return nil, err
	}
	args := []string{"discovery",
		"--kubeconfig=" + c.Kubeconfig,
		"--httpsAddr=" + webhookAddr,
		"--grpcAddr=" + addrs["grpcAddr"],
		"--secureGRPCAddr=" + addrs["secureGRPCAddr"],
		"--monitoringAddr=" + addrs["monitoringAddr"],
		"--httpAddr=" + addrs["httpAddr"],
		"--ctrlz_port=" + strconv.Itoa(ctrlz),
		"--domain=cluster.local",
	}
	injector, serviceAccount := injectorWebhookName, "istiod"
	if rev != DefaultRevision {
		injector, serviceAccount = injectorWebhookName+"-"+rev, "istiod-"+rev
	}
	env := []string{
		"POD_NAMESPACE=" + IstioNamespace, "POD_NAME=" + name + "-local", "REVISION=" + rev,
		"PILOT_CERT_PROVIDER=istiod", "CLUSTER_ID=Kubernetes",
		"INJECTION_WEBHOOK_CONFIG_NAME=" + injector, "SERVICE_ACCOUNT=" + serviceAccount,
		"KUBECONFIG=" + c.Kubeconfig,
	}
	env = append(env, extraEnv...)
	return startProcess(c.Dir, name, bin, args, env)
}

// waitIstiod waits (90 s at most) until the istiod process p answers /ready
// on its webhook address and then until caBundled holds: istiod has filled
// the caBundle of its webhooks, so the apiserver can call them.
func waitIstiod(ctx context.Context, p *process, what, webhookAddr string, caBundled func(context.Context) (bool, error)) error {
	wait, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	httpClient := &http.Client{
		Timeout: 2 * time.Second,
		// istiod serves with a certificate from its own, fresh CA.
		Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, //nolint:gosec // loopback readiness probe
	}
	if err := poll(wait, 200*time.Millisecond, what+" /ready", aliveCheck(p, func(ctx context.Context) (bool, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+webhookAddr+"/ready", nil)
		resp, err := httpClient.Do(req)
		if err != nil {
			return false, err
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, fmt.Errorf("status %d", resp.StatusCode)
	})); err != nil {
		return err
	}
	return poll(wait, 200*time.Millisecond, what+" to patch its webhooks' caBundle", aliveCheck(p, caBundled))
}

// webhooksCABundled checks that the mutating webhook configuration injector
// and, if named, the validating one validator exist and every webhook of
// theirs has a caBundle.
func (c *Cluster) webhooksCABundled(injector, validator string) func(context.Context) (bool, error) {
	return func(ctx context.Context) (bool, error) {
		var mwc admissionregistrationv1.MutatingWebhookConfiguration
		if err := c.Client.Get(ctx, types.NamespacedName{Name: injector}, &mwc); err != nil {
			return false, err
		}
		for _, wh := range mwc.Webhooks {
			if len(wh.ClientConfig.CABundle) == 0 {
				return false, fmt.Errorf("webhook %s/%s has no caBundle yet", mwc.Name, wh.Name)
			}
		}
		if validator == "" {
			return len(mwc.Webhooks) > 0, nil
		}
		var vwc admissionregistrationv1.ValidatingWebhookConfiguration
		if err := c.Client.Get(ctx, types.NamespacedName{Name: validator}, &vwc); err != nil {
			return false, err
		}
		for _, wh := range vwc.Webhooks {
			if len(wh.ClientConfig.CABundle) == 0 {
				return false, fmt.Errorf("webhook %s/%s has no caBundle yet", vwc.Name, wh.Name)
			}
		}
		return len(mwc.Webhooks) > 0 && len(vwc.Webhooks) > 0, nil
	}
}

// StopIstiod stops the local istiod. Injection and validation then fail closed.
func (c *Cluster) StopIstiod() error {
	if c.istiod == nil {
		return nil
	}
	err := c.istiod.stop(10 * time.Second)
	c.istiod = nil
	return err
}

// IstiodXDSAddr is the host:port of the running local istiod's plaintext
// xDS server (its --grpcAddr, Istio's port 15010 in a cluster), or "" when
// istiod is not running. Proxyless gRPC clients of ci/dataplane connect there
// without certificates, as clients of port 15010 do: istiod authenticates
// only TLS connections.
func (c *Cluster) IstiodXDSAddr() string { return xdsAddr(c.istiod) }

// IstiodDebugURL is the base URL of the running local istiod's monitoring
// port (Istio's 15014), which serves its /debug endpoints to loopback
// callers, or "" when istiod is not running.
func (c *Cluster) IstiodDebugURL() string {
	if addr := flagValue(c.istiod, "--monitoringAddr="); addr != "" {
		return "http://" + addr
	}
	return ""
}

// xdsAddr is the --grpcAddr of a running istiod process ("" for none).
func xdsAddr(p *process) string { return flagValue(p, "--grpcAddr=") }

// flagValue is the value of a running process's flag (prefix "--name=").
func flagValue(p *process, prefix string) string {
	if p == nil {
		return ""
	}
	for _, arg := range p.cmd.Args {
		if v, ok := strings.CutPrefix(arg, prefix); ok {
			return v
		}
	}
	return ""
}

// IstiodLog is the path of the local istiod's log file.
func (c *Cluster) IstiodLog() string { return c.Dir + "/istiod.log" }
