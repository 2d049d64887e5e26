// Command demo is `make demo`: it starts the local control plane (etcd,
// kube-apiserver, kube-controller-manager, kube-scheduler, kwok — all built
// from source by ci/tools.sh), installs charts/example-app with the real helm
// CLI, and shows its Deployments Available. With --keep it leaves the cluster
// running until Ctrl-C so you can point kubectl or helm at it.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"text/tabwriter"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/meshbundle/meshbundle/ci/testcluster"
)

func main() {
	keep := flag.Bool("keep", false, "keep the cluster running until Ctrl-C")
	dir := flag.String("dir", ".demo", "directory for the kubeconfig and component logs")
	flag.Parse()
	if err := run(*keep, *dir); err != nil {
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		os.Exit(1)
	}
}

func step(format string, args ...any) { fmt.Printf("==> "+format+"\n", args...) }

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

	step("starting the local control plane (logs in %s)", dir)
	start := time.Now()
	c, err := testcluster.Start(ctx, testcluster.WithPods(), testcluster.InDir(dir))
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

	helm, err := testcluster.Bin("helm")
	if err != nil {
		return err
	}
	const ns = "demo"
	step("helm install example charts/example-app -n %s", ns)
	cmd := exec.CommandContext(ctx, helm, "install", "example", filepath.Join(root, "charts", "example-app"),
		"--kubeconfig", c.Kubeconfig, "--namespace", ns, "--create-namespace", "--wait", "--timeout", "90s")
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("helm install: %w", err)
	}

	step("waiting for the Deployments to be Available (pods run on kwok's fake node)")
	for _, name := range []string{"web", "api"} {
		if _, err := c.WaitDeploymentAvailable(ctx, ns, name, 60*time.Second); err != nil {
			return err
		}
	}
	var deps appsv1.DeploymentList
	if err := c.Client.List(ctx, &deps, client.InNamespace(ns)); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 3, ' ', 0)
	fmt.Fprintln(tw, "NAMESPACE\tNAME\tREADY\tUP-TO-DATE\tAVAILABLE")
	for _, d := range deps.Items {
		fmt.Fprintf(tw, "%s\t%s\t%d/%d\t%d\t%d\n", d.Namespace, d.Name, d.Status.ReadyReplicas, *d.Spec.Replicas, d.Status.UpdatedReplicas, d.Status.AvailableReplicas)
	}
	tw.Flush()

	if keep {
		step("cluster running: export KUBECONFIG=%s; Ctrl-C stops it", c.Kubeconfig)
		<-ctx.Done()
	}
	return nil
}
