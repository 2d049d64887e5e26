package main

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/meshbundle/meshbundle/failure"
	"github.com/meshbundle/meshbundle/multicluster"
)

func newClusterCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "cluster", Short: "Join clusters into one multi-network mesh"}
	cmd.AddCommand(newClusterLinkCmd())
	return cmd
}

func newClusterLinkCmd() *cobra.Command {
	var from, to multicluster.Cluster
	var out output
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "link --from-kubeconfig A --from-name NAME_A --to-kubeconfig B --to-name NAME_B",
		Short: "Write each cluster's remote secret (istio/multiCluster=true) into the other, so both istiods discover both clusters",
		Long: `Write, into istio-system of each cluster, the remote secret of the other (the
format of istioctl create-remote-secret: a kubeconfig for the other cluster's
istio-reader-service-account), so each istiod discovers the other's endpoints
and routes to them through the other network's east-west gateway. Both
clusters need Istio installed with their own
values.global.multiCluster.clusterName (the --*-name given here), the same
values.global.meshID and their values.global.network. Re-running updates the
secrets. See docs/gateways.md.`,
		Example: `  meshbundle cluster link --from-kubeconfig a.yaml --from-name cluster-a \
    --to-kubeconfig b.yaml --to-name cluster-b`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if from.Kubeconfig == "" && from.Context == "" || to.Kubeconfig == "" && to.Context == "" {
				return failure.BadInputf("--from-kubeconfig/--from-context, --to-kubeconfig/--to-context: both clusters must be named (fix: give a kubeconfig or context for each of --from and --to)")
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			ctx, cancel := withTimeout(ctx, timeout)
			defer cancel()
			res, err := multicluster.Link(ctx, from, to)
			if res != nil {
				for _, w := range res.Warnings {
					fmt.Fprintf(cmd.ErrOrStderr(), "Warning: %s\n", w)
				}
			}
			if err != nil {
				return err
			}
			return out.write(cmd.OutOrStdout(), res, func(w io.Writer) error {
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "IN CLUSTER\tSECRET\tFOR CLUSTER\tACTION")
				for _, s := range res.Secrets {
					fmt.Fprintf(tw, "%s\t%s/%s\t%s\t%s\n", s.In, s.Namespace, s.Name, s.For, s.Action)
				}
				return tw.Flush()
			})
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&from.Kubeconfig, "from-kubeconfig", "", "kubeconfig of the first cluster")
	fl.StringVar(&from.Context, "from-context", "", "kubeconfig context of the first cluster")
	fl.StringVar(&from.Name, "from-name", "", "mesh name of the first cluster (its values.global.multiCluster.clusterName)")
	fl.StringVar(&from.Server, "from-server", "", "API server address of the first cluster as the second cluster's istiod reaches it (default: from the kubeconfig)")
	fl.StringVar(&to.Kubeconfig, "to-kubeconfig", "", "kubeconfig of the second cluster")
	fl.StringVar(&to.Context, "to-context", "", "kubeconfig context of the second cluster")
	fl.StringVar(&to.Name, "to-name", "", "mesh name of the second cluster (its values.global.multiCluster.clusterName)")
	fl.StringVar(&to.Server, "to-server", "", "API server address of the second cluster as the first cluster's istiod reaches it")
	registerOutput(fl, &out)
	fl.DurationVar(&timeout, "timeout", 2*time.Minute, "give up after this long (exit code 4)")
	return cmd
}
