// Command demo is `make demo`: meshbundle's main job on a local control plane
// built from source (etcd, kube-apiserver, kube-controller-manager,
// kube-scheduler, kwok — see ci/tools.sh), with a real istiod:
//
//  1. start the control plane;
//  2. install Istio with the installer (IstioOperator values/default.yaml:
//     CNI, DNS proxy, Jaeger tracing, injected ingress gateway, addons), and
//     start the local istiod once its chart is in, so injection and
//     validation are real;
//  3. install charts/example-app with the real helm CLI through the
//     post-renderer (sidecars, port names, VirtualService, alias);
//  4. show the Deployments Available and their pods carrying istio-proxy;
//  5. run a canary of web: start v2, weight 10 %, status, weight 100 %,
//     promote, status,
//     with real requests at every step: a proxyless gRPC client fed by the
//     local istiod and one echo server per Ready pod (ci/dataplane) print
//     "traffic: 2000 requests, 0 failed, stable=90.1% v2=9.9% (weight 10)".
//
// Everything runs in a network, PID and mount namespace of its own (ci/netns:
// the pod and Service ranges are not local on the build machines, and
// nothing may leave). With --keep the cluster stays up until Ctrl-C, and the
// API server's port, and nothing else, is forwarded from your 127.0.0.1 into
// the namespace, so kubectl, helm and meshbundle work from your shell with
// the kubeconfig it prints. kwok runs no containers: the echo servers stand
// in for the app's containers.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/meshbundle/meshbundle/ci/netns"
	"github.com/meshbundle/meshbundle/ci/testcluster"
	"github.com/meshbundle/meshbundle/installer"
)

// appMesh is the example app's AppMesh: fix the badly named port, route web
// through the mesh, and give api a short alias.
const appMesh = `apiVersion: meshbundle.dev/v1alpha1
kind: AppMesh
metadata:
  name: example-app
  namespace: demo
spec:
  ports:
    mode: fix
  routes:
    - service: web
  aliases:
    - name: backend
      service: api
`

func main() {
	keep := flag.Bool("keep", false, "keep the cluster running until Ctrl-C")
	dir := flag.String("dir", ".demo", "directory for the kubeconfig, AppMesh and component logs")
	flag.Parse()
	netns.Enter(netns.Forward(*keep))
	if err := run(*keep, *dir); err != nil {
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		os.Exit(1)
	}
}

func step(format string, args ...any) { fmt.Printf("\n==> "+format+"\n", args...) }

func run(keep bool, dir string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root, err := testcluster.RepoRoot()
	if err != nil {
		return err
	}
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(root, dir)
	}
	helm, err := testcluster.Bin("helm")
	if err != nil {
		return err
	}
	postrender := filepath.Join(root, "bin", "meshbundle-postrender")
	if _, err := os.Stat(postrender); err != nil {
		return fmt.Errorf("%s not built: run `make build` (make demo does): %w", postrender, err)
	}

	step("1. starting the local control plane (logs in %s)", dir)
	start := time.Now()
	c, err := testcluster.Start(ctx, testcluster.WithPods(), testcluster.WithIstiodRoute(), testcluster.InDir(dir),
		testcluster.APIServerPort(netns.ForwardedPort()))
	if err != nil {
		return err
	}
	defer func() {
		step("stopping the control plane")
		if err := c.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "demo: stop: %v\n", err)
		}
	}()
	fmt.Printf("    up in %s; kubeconfig %s\n", time.Since(start).Round(time.Millisecond), c.Kubeconfig)

	step("2. meshbundle install (values/default.yaml: CNI, DNS proxy, Jaeger tracing, ingress gateway, addons)")
	var istiodErr error
	res, err := installer.Install(ctx, installer.Options{
		Kubeconfig: c.Kubeconfig, Wait: true, Timeout: 5 * time.Minute,
		Progress: func(e installer.Event) {
			if e.State == "" {
				return
			}
			fmt.Printf("    %-8s %-9s %3d objects  %6s  %s\n", e.Phase, e.State, e.Objects, e.Elapsed.Round(10*time.Millisecond), e.Message)
			// The real istiod is a local process: start it once its chart
			// (mesh config, injection templates, webhooks) is installed.
			if e.Phase == installer.PhaseIstiod && e.State == installer.StateDone && istiodErr == nil {
				istiodErr = c.StartIstiod(ctx)
				fmt.Println("    local istiod started (webhooks served from 127.0.0.1)")
			}
		},
	})
	if istiodErr != nil {
		return fmt.Errorf("start istiod: %w", istiodErr)
	}
	if err != nil {
		return fmt.Errorf("install: %w", err)
	}
	fmt.Printf("    installed in %s\n", time.Duration(res.Elapsed).Round(time.Millisecond))

	step("3. helm install example charts/example-app -n demo --post-renderer meshbundle-postrender")
	config := filepath.Join(dir, "appmesh.yaml")
	if err := os.WriteFile(config, []byte(appMesh), 0o644); err != nil {
		return err
	}
	fmt.Printf("    AppMesh (%s):\n%s", config, indent(appMesh, "      "))
	cmd := exec.CommandContext(ctx, helm, "install", "example", filepath.Join(root, "charts", "example-app"),
		"--kubeconfig", c.Kubeconfig, "--namespace", "demo", "--create-namespace",
		"--post-renderer", postrender, "--post-renderer-args", "--config="+config,
		"--wait", "--timeout", "90s")
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("helm install: %w", err)
	}

	step("4. the app, meshed")
	for _, name := range []string{"web", "api"} {
		if _, err := c.WaitDeploymentAvailable(ctx, "demo", name, 60*time.Second); err != nil {
			return err
		}
	}
	if err := show(ctx, c); err != nil {
		return err
	}

	// Each canary step is recorded in the AppMesh file the install used
	// (--file: the team's next routine helm upgrade carries it) and is one
	// `helm upgrade` of the release (GitOps mode would make it one git
	// commit instead); make-before-break throughout.
	// Real requests measure every step (ci/dataplane): a proxyless gRPC
	// client of web fed by the local istiod, one echo server per Ready pod.
	step("5. meshbundle canary: web v2 at 10 %%, 100 %%, then promote; real requests at every step")
	tr, err := startTraffic(ctx, c, "demo", "web.demo.svc.cluster.local:80")
	if err != nil {
		return err
	}
	defer tr.stop()
	mb := filepath.Join(root, "bin", "meshbundle")
	for _, s := range []struct {
		args []string
		// traffic: none, "after" the step (a fresh measurement once in
		// effect) or "during" it (requests while the step runs).
		traffic  string
		weight   int
		promoted bool
	}{
		{args: []string{"canary", "start", "example-app", "--deployment", "web", "--version", "v2", "--image", "registry.k8s.io/e2e-test-images/agnhost:2.54"}, traffic: "after"},
		{args: []string{"canary", "weight", "example-app", "10"}, traffic: "after", weight: 10},
		{args: []string{"canary", "status", "example-app"}},
		{args: []string{"canary", "weight", "example-app", "100"}, traffic: "after", weight: 100},
		// Promote moves the stable Deployment to v2 and removes the copy:
		// requests keep flowing the whole time, all to v2.
		{args: []string{"canary", "promote", "example-app"}, traffic: "during", weight: 100},
		{args: []string{"canary", "status", "example-app"}, traffic: "after", weight: 100, promoted: true},
	} {
		fmt.Printf("\n$ meshbundle %s\n", strings.Join(s.args, " "))
		cmd := exec.CommandContext(ctx, mb, append(s.args, "--release", "example", "--file", config, "-n", "demo", "--kubeconfig", c.Kubeconfig)...)
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		run := cmd.Run
		if s.traffic == "during" {
			run = func() error { return tr.during(ctx, s.weight, cmd.Run) }
		}
		if err := run(); err != nil {
			return fmt.Errorf("meshbundle %s: %w", strings.Join(s.args, " "), err)
		}
		if s.traffic == "after" {
			tr.measure(ctx, s.weight, s.promoted)
		}
	}

	if keep {
		step("cluster running: export KUBECONFIG=%s (its API server port is forwarded from your 127.0.0.1 into the demo's network namespace); Ctrl-C stops it", c.Kubeconfig)
		<-ctx.Done()
	}
	return nil
}

func show(ctx context.Context, c *testcluster.Cluster) error {
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 3, ' ', 0)
	var deps appsv1.DeploymentList
	if err := c.Client.List(ctx, &deps); err != nil {
		return err
	}
	fmt.Fprintln(tw, "NAMESPACE\tDEPLOYMENT\tREADY\tAVAILABLE")
	for _, d := range deps.Items {
		fmt.Fprintf(tw, "%s\t%s\t%d/%d\t%d\n", d.Namespace, d.Name, d.Status.ReadyReplicas, *d.Spec.Replicas, d.Status.AvailableReplicas)
	}
	tw.Flush()

	var pods corev1.PodList
	if err := c.Client.List(ctx, &pods, client.InNamespace("demo")); err != nil {
		return err
	}
	fmt.Println()
	fmt.Fprintln(tw, "POD\tCONTAINERS (init + app)\tSIDECAR")
	for _, p := range pods.Items {
		var names []string
		for _, ctr := range append(p.Spec.InitContainers, p.Spec.Containers...) {
			names = append(names, ctr.Name)
		}
		injected := "no"
		if p.Annotations["sidecar.istio.io/status"] != "" {
			injected = "injected by istiod"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", p.Name, strings.Join(names, ","), injected)
	}
	tw.Flush()

	var svcs corev1.ServiceList
	if err := c.Client.List(ctx, &svcs, client.InNamespace("demo")); err != nil {
		return err
	}
	fmt.Println()
	fmt.Fprintln(tw, "SERVICE\tTYPE\tPORTS")
	for _, s := range svcs.Items {
		var ports []string
		for _, p := range s.Spec.Ports {
			ports = append(ports, fmt.Sprintf("%s:%d", p.Name, p.Port))
		}
		if s.Spec.Type == corev1.ServiceTypeExternalName {
			ports = append(ports, "-> "+s.Spec.ExternalName)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", s.Name, s.Spec.Type, strings.Join(ports, " "))
	}
	tw.Flush()

	var vss networkingv1.VirtualServiceList
	if err := c.Client.List(ctx, &vss, client.InNamespace("demo")); err != nil {
		return err
	}
	fmt.Println()
	fmt.Fprintln(tw, "VIRTUALSERVICE\tHOSTS\tGATEWAYS")
	for _, vs := range vss.Items {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", vs.Name, strings.Join(vs.Spec.Hosts, ","), strings.Join(vs.Spec.Gateways, ","))
	}
	tw.Flush()
	return nil
}

func indent(s, prefix string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return prefix + strings.Join(lines, "\n"+prefix) + "\n"
}
