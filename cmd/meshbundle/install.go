package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	istiolog "istio.io/istio/pkg/log"

	"github.com/meshbundle/meshbundle/failure"
	"github.com/meshbundle/meshbundle/installer"
	"github.com/meshbundle/meshbundle/values"
)

// installFlags are shared by install, upgrade, uninstall and status.
type installFlags struct {
	kubeconfig, context string
	files               []string
	set                 []string
	profile             string
	gatewayNamespace    string
	noGateway           bool
	jaeger              bool
	addonsChart         string
	charts              string
	noAddons            bool
	dryRun, wait        bool
	reconcile           bool
	deleteCRDs, force   bool
	revision            string
	keepCRDs            bool // deprecated: CRDs are kept by default
	timeout             time.Duration
	output              output
}

func (f *installFlags) register(cmd *cobra.Command, op string) {
	fl := cmd.Flags()
	fl.StringVar(&f.kubeconfig, "kubeconfig", "", "path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
	fl.StringVar(&f.context, "context", "", "kubeconfig context to use (default: the current context)")
	fl.StringArrayVarP(&f.files, "filename", "f", nil, "IstioOperator file layered on values/default.yaml (repeatable, applied in order)")
	fl.StringArrayVar(&f.set, "set", nil, "override an IstioOperator path (istioctl syntax, e.g. meshConfig.defaultConfig.tracing.sampling=10) or a gateway chart value with gateway.<key>=<value>")
	fl.StringVar(&f.profile, "profile", "default", "meshbundle profile overlay from values/: "+strings.Join(values.Profiles, ", ")+" (ambient: Istio's ambient mode, ztunnel instead of sidecars)")
	fl.StringVar(&f.gatewayNamespace, "gateway-namespace", installer.DefaultGatewayNamespace, "namespace of the ingress gateway release")
	fl.BoolVar(&f.noGateway, "no-gateway", false, "do not install the ingress gateway")
	fl.StringVar(&f.addonsChart, "addons-chart", "", "chart directory installed in the addons phase instead of the built-in meshbundle-addons chart")
	fl.BoolVar(&f.noAddons, "no-addons", false, "do not install the observability addons (rules, monitors, dashboards, Kiali)")
	fl.DurationVar(&f.timeout, "timeout", installer.DefaultTimeout, "give up after this long (exit code 4)")
	revisionHelp := "istiod revision: install istiod-<rev> beside the running control plane, with its own injector (istio.io/rev=<rev>); see `meshbundle tag`"
	if op == "uninstall" {
		revisionHelp = "remove only this istiod revision (\"default\": the istiod release), refused while proxies use it"
	}
	fl.StringVar(&f.revision, "revision", "", revisionHelp)
	registerOutput(fl, &f.output)
	switch op {
	case "install", "upgrade":
		fl.StringVar(&f.charts, "charts", "", "directory laid out like Istio's manifests/charts (e.g. another Istio build's) whose charts are installed instead of the built-in ones; images stay pinned unless --set hub=/tag=")
		fl.BoolVar(&f.jaeger, "jaeger", false, "also install a Jaeger all-in-one as the tracing collector (jaeger-collector.istio-system:4317)")
		fl.BoolVar(&f.dryRun, "dry-run", false, "print the manifests of every release; contact no cluster, change nothing")
		fl.BoolVar(&f.wait, "wait", false, "wait until the CNI node agent, istiod and the gateway are ready")
		fl.BoolVar(&f.reconcile, "reconcile", false, "upgrade every release even if it equals the plan, so Helm's three-way merge restores fields of its objects edited in place")
	case "uninstall":
		fl.BoolVar(&f.dryRun, "dry-run", false, "list what would be removed; contact no cluster")
		fl.BoolVar(&f.wait, "wait", false, "wait until the namespaces the installer created are gone")
		fl.BoolVar(&f.deleteCRDs, "delete-crds", false, "also delete Istio's CRDs and so every Istio config object; refused while any exists (other than the installer's own) unless --force")
		fl.BoolVar(&f.force, "force", false, "with --delete-crds: delete the CRDs although Istio config objects exist (they are deleted with them)")
		fl.BoolVar(&f.keepCRDs, "keep-crds", false, "deprecated: CRDs are kept unless --delete-crds")
		_ = fl.MarkHidden("keep-crds") // cobra's MarkDeprecated would print to stdout
	}
}

func (f *installFlags) options(progress func(installer.Event)) (installer.Options, error) {
	// Istio's mesh validation logs an invalid extension provider as a
	// warning (several times); the installer reports it as an error itself,
	// so keep stderr to that one message.
	if s := istiolog.FindScope("validation"); s != nil {
		s.SetOutputLevel(istiolog.ErrorLevel)
	}
	if f.timeout <= 0 {
		return installer.Options{}, failure.BadInputf("--timeout %s: must be positive (fix: give a duration such as 5m)", f.timeout)
	}
	if f.force && !f.deleteCRDs {
		return installer.Options{}, failure.BadInputf("--force: only applies to --delete-crds (fix: drop --force, or add --delete-crds)")
	}
	if f.keepCRDs && f.deleteCRDs {
		return installer.Options{}, failure.BadInputf("--keep-crds and --delete-crds contradict each other (fix: drop one; CRDs are kept by default)")
	}
	return installer.Options{
		Source: installer.Source{
			Profile: f.profile, Files: f.files, Set: f.set,
			GatewayNamespace: f.gatewayNamespace, NoGateway: f.noGateway, Jaeger: f.jaeger, AddonsChart: f.addonsChart, NoAddons: f.noAddons,
			Revision: f.revision, Charts: f.charts,
		},
		Kubeconfig: f.kubeconfig, Context: f.context,
		DryRun: f.dryRun, Wait: f.wait, Timeout: f.timeout, DeleteCRDs: f.deleteCRDs, Force: f.force, Reconcile: f.reconcile,
		Progress: progress,
	}, nil
}

func newInstallCmd() *cobra.Command   { return newInstallLikeCmd("install") }
func newUpgradeCmd() *cobra.Command   { return newInstallLikeCmd("upgrade") }
func newUninstallCmd() *cobra.Command { return newInstallLikeCmd("uninstall") }

var installShort = map[string]string{
	"install":   "Install Istio (CNI, DNS proxy, Jaeger tracing, injected ingress gateway) as Helm releases; re-running converges",
	"upgrade":   "Same as install: upgrade changed releases, leave equal ones alone",
	"uninstall": "Remove the releases in reverse order and the namespaces install created that hold nothing else; CRDs stay unless --delete-crds",
}

func newInstallLikeCmd(op string) *cobra.Command {
	var f installFlags
	cmd := &cobra.Command{
		Use:   op,
		Short: installShort[op],
		Long: installShort[op] + `.

Configuration: values/default.yaml (an IstioOperator, embedded in the binary),
then --profile's overlay, then -f files, then --set. Progress goes to stderr,
the result (or with --dry-run the manifests) to stdout. Exit codes: 0 done,
1 failed, 2 bad input (nothing changed), 3 cluster unreachable (nothing
changed), 4 timeout (re-run to finish), 5 another run holds the installer
lease (nothing changed), 6 uninstall refused: in use (nothing changed). See
docs/installer.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts, err := f.options(progressPrinter(cmd.ErrOrStderr()))
			if err != nil {
				return err
			}
			if f.keepCRDs {
				fmt.Fprintln(cmd.ErrOrStderr(), "Warning: --keep-crds is deprecated: CRDs are kept unless --delete-crds")
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			var res *installer.Result
			if op == "uninstall" {
				res, err = installer.Uninstall(ctx, opts)
			} else {
				res, err = installer.Install(ctx, opts)
			}
			if res != nil {
				for _, w := range res.Warnings {
					fmt.Fprintf(cmd.ErrOrStderr(), "Warning: %s\n", w)
				}
			}
			if werr := writeResult(cmd.OutOrStdout(), f, res, err); werr != nil && err == nil {
				err = werr
			}
			return err
		},
	}
	f.register(cmd, op)
	return cmd
}

func newStatusCmd() *cobra.Command {
	var f installFlags
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show each installer release (Helm status, revision) and whether the CNI agent, istiod and the gateway are ready",
		Long: `Show each installer release (Helm status, revision) and whether the CNI node
agent, istiod and the gateway are ready. Pass the same -f/--set/--profile as to install so the
same releases are looked up. Exit code 0 when everything is deployed and
ready, 1 when not, 2/3 as for install.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts, err := f.options(nil)
			if err != nil {
				return err
			}
			rep, err := installer.Status(cmd.Context(), opts)
			if err != nil {
				return err
			}
			err = f.output.write(cmd.OutOrStdout(), rep, func(w io.Writer) error {
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "PHASE\tRELEASE\tNAMESPACE\tSTATUS\tREVISION\tCHART\tREADY")
				for _, r := range rep.Releases {
					ready := "-"
					if r.Ready != nil {
						ready = fmt.Sprint(*r.Ready)
						if !*r.Ready && r.Message != "" {
							ready += " (" + r.Message + ")"
						}
					} else if r.Message != "" {
						ready += " (" + r.Message + ")"
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", r.Phase, r.Name, r.Namespace, r.Status, r.Revision, r.Chart, ready)
				}
				return tw.Flush()
			})
			if err != nil {
				return err
			}
			if !rep.Installed {
				return errors.New("not fully installed; run `meshbundle install`")
			}
			return nil
		},
	}
	f.register(cmd, "status")
	return cmd
}

// progressPrinter writes one line per phase event to stderr, for people.
func progressPrinter(w io.Writer) func(installer.Event) {
	return func(e installer.Event) {
		el := fmt.Sprintf("%6.1fs", e.Elapsed.Seconds())
		if e.State == "" {
			fmt.Fprintf(w, "%s  %-8s ...\n", el, e.Phase)
			return
		}
		line := fmt.Sprintf("%s  %-8s %-9s %3d objects", el, e.Phase, e.State, e.Objects)
		if e.Message != "" {
			line += "  " + firstLine(e.Message)
		}
		fmt.Fprintln(w, line)
	}
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// writeResult prints the result as JSON or YAML (also on error, then with
// the error and the exit code), or without -o the manifests (dry run) or a
// summary table.
func writeResult(w io.Writer, f installFlags, res *installer.Result, runErr error) error {
	if res == nil {
		return nil
	}
	if f.output.structured() {
		type result struct {
			*installer.Result
			Error     string `json:"error,omitempty"`
			ExitCode  int    `json:"exitCode"`
			Manifests string `json:"manifests,omitempty"`
		}
		out := result{Result: res}
		if runErr != nil {
			out.Error = runErr.Error()
			out.ExitCode = failure.Code(runErr)
		}
		if f.dryRun {
			out.Manifests = res.Manifests()
		}
		return f.output.write(w, out, nil)
	}
	if runErr != nil {
		return nil // the error goes to stderr; no partial output on stdout
	}
	if f.dryRun && res.Operation == "install" {
		_, err := io.WriteString(w, res.Manifests())
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PHASE\tRELEASE\tNAMESPACE\tACTION\tREVISION\tOBJECTS")
	for _, p := range res.Phases {
		if len(p.Releases) == 0 {
			fmt.Fprintf(tw, "%s\t-\t-\t%s\t-\t%d\n", p.Phase, p.State, p.Objects)
			continue
		}
		for _, r := range p.Releases {
			action := string(r.Action)
			if r.Unlocked {
				action += " (unlocked)"
			}
			if len(r.Restored) > 0 {
				action += fmt.Sprintf(" (%d objects restored)", len(r.Restored))
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\n", p.Phase, r.Name, r.Namespace, action, r.Revision, r.Objects)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, k := range res.Kept {
		if _, err := fmt.Fprintf(w, "kept %d %s (%s): %s\n", len(k.Names), k.Kind, strings.Join(k.Names, ", "), k.Reason); err != nil {
			return err
		}
	}
	return nil
}
