package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	istiolog "istio.io/istio/pkg/log"

	"github.com/meshbundle/meshbundle/failure"
	"github.com/meshbundle/meshbundle/gateway"
	"github.com/meshbundle/meshbundle/gatewayconfig"
)

// gatewayFlags are shared by the gateway subcommands.
type gatewayFlags struct {
	kubeconfig, context, namespace string
	timeout                        time.Duration
	output                         output
	dryRun                         bool
}

func (f *gatewayFlags) register(cmd *cobra.Command, dryRun bool) {
	fl := cmd.Flags()
	fl.StringVar(&f.kubeconfig, "kubeconfig", "", "path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
	fl.StringVar(&f.context, "context", "", "kubeconfig context to use (default: the current context)")
	fl.StringVarP(&f.namespace, "namespace", "n", "", "namespace of the gateway")
	fl.DurationVar(&f.timeout, "timeout", gateway.DefaultTimeout, "give up after this long (exit code 4)")
	registerOutput(fl, &f.output)
	if dryRun {
		fl.BoolVar(&f.dryRun, "dry-run", false, "render and analyze against the cluster, print the manifests, change nothing")
	}
}

func (f *gatewayFlags) target(stderr io.Writer) (gateway.Target, error) {
	if f.timeout <= 0 {
		return gateway.Target{}, failure.BadInputf("--timeout %s: must be positive (fix: give a duration such as 5m)", f.timeout)
	}
	// Istio's analyzers and kube client log to stderr on their own; the
	// command reports what matters itself.
	for _, s := range istiolog.Scopes() {
		s.SetOutputLevel(istiolog.NoneLevel)
	}
	return gateway.Target{
		Kubeconfig: f.kubeconfig, Context: f.context, Timeout: f.timeout,
		Progress: func(line string) { fmt.Fprintln(stderr, line) },
	}, nil
}

// namedTarget is target for the commands that name one gateway: a gateway
// is always named within its namespace.
func (f *gatewayFlags) namedTarget(stderr io.Writer) (gateway.Target, error) {
	t, err := f.target(stderr)
	if err == nil && f.namespace == "" {
		err = failure.BadInputf("-n/--namespace: required, the namespace of the gateway (fix: add -n NAMESPACE)")
	}
	return t, err
}

func newGatewayCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "gateway",
		Short: "Add, configure, list, inspect and delete Istio gateways (Helm releases or Gateway API Gateways)",
		Long: `A gateway is made with one of two APIs (--api on add):

  istio        its own Helm release of Istio's gateway chart (injected with the
               "gateway" template, Role/RoleBinding for TLS Secrets, HPA,
               optional PDB) carrying the Istio Gateway rendered from its
               GatewayConfig; changes are checked with Istio's analyzers first.
  gateway-api  one gateway.networking.k8s.io/v1 Gateway of class istio
               translated from its GatewayConfig; istiod's deployment
               controller creates its Deployment and Service.

list, status, config apply and delete work on both. See docs/gateways.md.`,
	}
	cmd.AddCommand(newGatewayAddCmd(), newGatewayConfigCmd(), newGatewayListCmd(), newGatewayStatusCmd(), newGatewayDeleteCmd())
	return cmd
}

func newGatewayAddCmd() *cobra.Command {
	var f gatewayFlags
	var o gateway.AddOptions
	var class, api, configFile string
	cmd := &cobra.Command{
		Use:   "add NAME -n NAMESPACE",
		Short: "Install a gateway: Helm release NAME (Deployment, Service, Role, HPA, Gateway), or with --api gateway-api a Gateway API Gateway istiod deploys",
		Example: `  meshbundle gateway add public -n istio-ingress
  meshbundle gateway add edge -n istio-ingress --api gateway-api --service-type ClusterIP --wait
  meshbundle gateway add istio-eastwestgateway -n istio-system --class east-west --network network1
  meshbundle gateway add egress -n istio-egress --class egress --replicas 2 --pdb-min-available 1`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, err := f.namedTarget(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			if o.Class, err = gateway.ParseClass(class); err != nil {
				return &failure.BadInputError{Err: err, Fix: "use --class ingress, egress or east-west"}
			}
			if o.API, err = gateway.ParseAPI(api); err != nil {
				return &failure.BadInputError{Err: err, Fix: "use --api istio or gateway-api"}
			}
			o.Name, o.Namespace, o.DryRun = args[0], f.namespace, f.dryRun
			if configFile != "" {
				if o.Config, err = gatewayconfig.Load(configFile); err != nil {
					return &failure.BadInputError{Field: "-f/--filename", Err: err}
				}
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			res, err := gateway.Add(ctx, t, o)
			return writeGatewayResult(cmd, f, res, err)
		},
	}
	f.register(cmd, true)
	fl := cmd.Flags()
	fl.StringVar(&class, "class", string(gateway.ClassIngress), "ingress, egress or east-west")
	fl.StringVar(&api, "api", string(gateway.APIIstio), "istio (a Helm release of Istio's gateway chart) or gateway-api (a Gateway API Gateway of class istio; istiod creates its Deployment and Service)")
	fl.StringVar(&o.ServiceType, "service-type", "", "gateway Service type: LoadBalancer (default for ingress, east-west), ClusterIP (default for egress), NodePort, None (not with --api gateway-api)")
	fl.StringVar(&o.Network, "network", "", "east-west only: the network of this cluster (the installer's values.global.network)")
	fl.IntVar(&o.Replicas, "replicas", 0, "fixed replica count (turns the HPA off)")
	fl.IntVar(&o.MinReplicas, "min-replicas", 0, "HPA minimum replicas (chart default 1)")
	fl.IntVar(&o.MaxReplicas, "max-replicas", 0, "HPA maximum replicas (chart default 5)")
	fl.StringVar(&o.PDBMinAvailable, "pdb-min-available", "", `add a PodDisruptionBudget with this minAvailable ("1", "50%")`)
	fl.StringArrayVar(&o.Set, "set", nil, "a value of Istio's gateway chart, Helm --set syntax (repeatable)")
	fl.StringVarP(&configFile, "filename", "f", "", "GatewayConfig to start with (default: HTTP port 80 for every host; east-west: 15443 AUTO_PASSTHROUGH)")
	fl.BoolVar(&o.Wait, "wait", false, "wait until the gateway Deployment is Available (--api gateway-api: until the Gateway is Programmed, printing istiod's reason meanwhile)")
	return cmd
}

func newGatewayConfigCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Change what a gateway serves from a GatewayConfig file"}
	var f gatewayFlags
	var file string
	apply := &cobra.Command{
		Use:   "apply -f FILE",
		Short: "Helm-upgrade the gateway's release with the GatewayConfig (history and rollback work), or update a Gateway API gateway's listeners",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			t, err := f.target(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			if file == "" {
				return failure.BadInputf("-f/--filename: required, the GatewayConfig file (fix: add -f FILE)")
			}
			gc, err := gatewayconfig.Load(file)
			if err != nil {
				return &failure.BadInputError{Field: "-f/--filename", Err: err}
			}
			if f.namespace != "" && f.namespace != gc.Metadata.Namespace {
				return failure.BadInputf("-n %s disagrees with GatewayConfig %s metadata.namespace %s (fix: drop -n, or correct metadata.namespace in the file)", f.namespace, file, gc.Metadata.Namespace)
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			res, err := gateway.ApplyConfig(ctx, t, gc, f.dryRun)
			return writeGatewayResult(cmd, f, res, err)
		},
	}
	f.register(apply, true)
	apply.Flags().StringVarP(&file, "filename", "f", "", "GatewayConfig file")
	cmd.AddCommand(apply)
	return cmd
}

func newGatewayListCmd() *cobra.Command {
	var f gatewayFlags
	var all bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List gateways (in -n, or in every namespace with -A)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			t, err := f.target(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			ns := f.namespace
			if all {
				ns = ""
			} else if ns == "" {
				return failure.BadInputf("-n/--namespace: missing (fix: give -n NAMESPACE, or -A for all namespaces)")
			}
			infos, err := gateway.List(cmd.Context(), t, ns)
			if err != nil {
				return err
			}
			if infos == nil {
				infos = []gateway.Info{}
			}
			return writeInfos(cmd.OutOrStdout(), f.output, infos, infos)
		},
	}
	f.register(cmd, false)
	cmd.Flags().BoolVarP(&all, "all-namespaces", "A", false, "list gateways in every namespace")
	return cmd
}

func newGatewayStatusCmd() *cobra.Command {
	var f gatewayFlags
	cmd := &cobra.Command{
		Use:   "status NAME -n NAMESPACE",
		Short: "Show a gateway's release, readiness, addresses and served hosts; exit 1 when not ready",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, err := f.namedTarget(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			info, err := gateway.Status(cmd.Context(), t, f.namespace, args[0])
			if err != nil {
				return err
			}
			if err := writeInfos(cmd.OutOrStdout(), f.output, []gateway.Info{*info}, info); err != nil {
				return err
			}
			if !info.OK() {
				return fmt.Errorf("gateway %s/%s is not ready (%s, %s)", info.Namespace, info.Name, info.Status, info.Message)
			}
			return nil
		},
	}
	f.register(cmd, false)
	return cmd
}

func newGatewayDeleteCmd() *cobra.Command {
	var f gatewayFlags
	cmd := &cobra.Command{
		Use:   "delete NAME -n NAMESPACE",
		Short: "Uninstall the gateway's release (or delete its Gateway API Gateway) and wait until its objects are gone",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, err := f.namedTarget(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			res, err := gateway.Delete(cmd.Context(), t, f.namespace, args[0])
			return writeGatewayResult(cmd, f, res, err)
		},
	}
	f.register(cmd, false)
	return cmd
}

// writeGatewayResult prints warnings to stderr and the result (or, dry run,
// the manifests) to stdout; on error nothing goes to stdout.
func writeGatewayResult(cmd *cobra.Command, f gatewayFlags, res *gateway.Result, err error) error {
	if res != nil {
		for _, w := range res.Warnings {
			fmt.Fprintf(cmd.ErrOrStderr(), "Warning: %s\n", w)
		}
	}
	if err != nil {
		return err
	}
	w := cmd.OutOrStdout()
	return f.output.write(w, res, func(w io.Writer) error {
		if res.Manifest != "" {
			_, err := io.WriteString(w, res.Manifest)
			return err
		}
		fmt.Fprintf(w, "gateway %s/%s %s", res.Namespace, res.Name, res.Action)
		if res.Revision > 0 {
			fmt.Fprintf(w, " (revision %d)", res.Revision)
		}
		_, err := fmt.Fprintln(w)
		return err
	})
}

// writeInfos prints v (infos, or the one Info of status) as JSON or YAML,
// or infos as a table.
func writeInfos(w io.Writer, o output, infos []gateway.Info, v any) error {
	return o.write(w, v, func(w io.Writer) error { return gatewayTable(w, infos) })
}

func gatewayTable(w io.Writer, infos []gateway.Info) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAMESPACE\tNAME\tAPI\tCLASS\tSTATUS\tREVISION\tREADY\tADDRESSES\tSERVERS")
	for _, i := range infos {
		var servers []string
		for port, hosts := range i.Servers {
			servers = append(servers, port+"="+strings.Join(hosts, ","))
		}
		sort.Strings(servers)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%v\t%s\t%s\n", i.Namespace, i.Name, i.API, i.Class, i.Status, i.Revision, i.Ready,
			strings.Join(i.Addresses, ","), strings.Join(servers, " "))
	}
	return tw.Flush()
}

// withTimeout bounds a command's context.
func withTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if d <= 0 {
		d = 2 * time.Minute
	}
	return context.WithTimeout(ctx, d)
}
