package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"helm.sh/helm/v3/pkg/action"
	istioclient "istio.io/client-go/pkg/clientset/versioned"
	istiokube "istio.io/istio/pkg/kube"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	gatewayclient "sigs.k8s.io/gateway-api/pkg/client/clientset/versioned"

	"github.com/meshbundle/meshbundle/canary"
	"github.com/meshbundle/meshbundle/failure"
	"github.com/meshbundle/meshbundle/installer"
	"github.com/meshbundle/meshbundle/lease"
)

// canaryFlags are shared by the canary subcommands.
type canaryFlags struct {
	kubeconfig, context, namespace string
	repo, file                     string
	push                           bool
	release                        string
	values                         []string
	timeout, settle                time.Duration
	istiodNamespace, istiodURL     string
	noWait, force                  bool
	output                         output

	stop    context.CancelCauseFunc // ends the command's context (the canary lease was lost)
	unlease func()                  // frees the canary lease held by the command, if any
}

func newCanaryCmd() *cobra.Command {
	var f canaryFlags
	cmd := &cobra.Command{
		Use:   "canary",
		Short: "Canary releases of an app's Deployment: start, weight, abort, promote, status (docs/canary.md)",
		Long: `Canary releases, make-before-break: every step is one change of the app's
AppMesh file, either one git commit in a working copy Argo CD syncs (--repo)
or one helm upgrade of the release through the meshbundle post-renderer
(--release), recorded first in the AppMesh file your own helm upgrade uses
(--file, or --repo to commit it). Each step waits (--timeout) until the cluster applied it, what the
next step needs is Ready, and the step is in effect: istiod accepted the
app's routing objects and the app's connected proxies acknowledged a push
that carries them (istiod's debug endpoints; when istiod cannot tell, the
--settle delay, said on stderr); --no-wait applies one step and returns
(run the same command again to continue). Progress goes to stderr, results
to stdout. Exit codes: 0 done, 1 failed, 2 bad input or refused (nothing
changed), 3 the cluster cannot be reached (nothing changed; GitOps --force
commits without it), 4 timeout (the steps so far stay; run again to
continue), 5 another canary command on the app holds its lease (helm mode;
nothing changed), 7 conflict (the working copy, the AppMesh file or the release
changed, or the file and the release disagree; nothing written).`,
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&f.kubeconfig, "kubeconfig", "", "path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
	pf.StringVar(&f.context, "context", "", "kubeconfig context to use")
	pf.StringVarP(&f.namespace, "namespace", "n", "", "namespace of the app (default: the AppMesh's metadata.namespace, else the kubeconfig's)")
	pf.StringVar(&f.repo, "repo", "", "the git working copy holding the app's AppMesh file (GitOps mode; with --release: commit each step there too)")
	pf.StringVar(&f.file, "file", "", "the app's AppMesh file: relative to --repo (default: found by app name); in helm mode without --repo, the file your helm upgrade passes to --config")
	pf.StringArrayVar(&f.values, "values", nil, "GitOps mode: values file (relative to the chart's directory, repeatable) the Argo CD Application renders the chart with; each step is rendered with the chart before it is committed when the AppMesh file sits in the chart's directory")
	pf.BoolVar(&f.push, "push", false, "GitOps mode: push after every commit")
	pf.StringVar(&f.release, "release", "", "Helm mode: the Helm release of the app")
	pf.DurationVar(&f.timeout, "timeout", 5*time.Minute, "how long each step may wait for the cluster")
	pf.DurationVar(&f.settle, "settle", canary.DefaultSettle, "when istiod cannot tell whether the app's proxies have a step (unreachable, no proxy connected), how long it is given to push it before the next step (0: none)")
	pf.StringVar(&f.istiodNamespace, "istiod-namespace", "istio-system", "namespace of the istiod pods whose debug endpoints (port 15014, reached by port-forward as istioctl does) tell when the app's proxies have a step")
	pf.StringVar(&f.istiodURL, "istiod-url", "", "istiod's monitoring address instead of a port-forward to its pods, e.g. http://127.0.0.1:15014 (`kubectl port-forward -n istio-system deploy/istiod 15014`)")
	pf.BoolVar(&f.force, "force", false, "GitOps mode: commit even when the cluster cannot be reached (nothing is checked against it)")
	pf.BoolVar(&f.noWait, "no-wait", false, "apply the next step only (when what it needs is already Ready) and return")
	registerOutput(pf, &f.output)

	var start canary.Request
	startCmd := &cobra.Command{
		Use:   "start APP --deployment NAME --version V --image IMAGE",
		Short: "Start a canary: label the stable pods, route to them by subset, then run the copy <deployment>-<version> at weight 0",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			start.Op = canary.OpStart
			return f.run(cmd, args[0], start)
		},
	}
	startCmd.Flags().StringVar(&start.Target, "deployment", "", "the Deployment to canary (it keeps its name)")
	startCmd.Flags().StringVar(&start.Version, "version", "", "version label of the copy, e.g. v2")
	startCmd.Flags().StringVar(&start.Image, "image", "", "image of the copy")
	startCmd.Flags().StringVar(&start.Container, "container", "", "container that gets the image (default: the first)")

	weightCmd := &cobra.Command{
		Use:   "weight APP PERCENT",
		Short: "Send PERCENT (0-100) of the traffic to the copy; only once the copy is Ready",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			w, err := strconv.Atoi(args[1])
			if err != nil || w < 0 || w > 100 {
				return failure.BadInputf("weight %q: not a whole number between 0 and 100 (fix: give the percentage of traffic for the copy, e.g. 10)", args[1])
			}
			return f.run(cmd, args[0], canary.Request{Op: canary.OpWeight, Weight: int32(w)})
		},
	}
	abortCmd := &cobra.Command{
		Use:   "abort APP",
		Short: "Abort: weight 0 first, then remove the copy, then give the stable its labels back",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.run(cmd, args[0], canary.Request{Op: canary.OpAbort})
		},
	}
	promoteCmd := &cobra.Command{
		Use:   "promote APP",
		Short: "Promote: 100% to the copy, move the stable to the new version and wait Ready, route back, remove the copy",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.run(cmd, args[0], canary.Request{Op: canary.OpPromote})
		},
	}
	statusCmd := &cobra.Command{
		Use:   "status APP",
		Short: "Show the canary as the cluster runs it: versions, weights, phase, ready replicas, last step",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.status(cmd, args[0])
		},
	}
	cmd.AddCommand(startCmd, weightCmd, abortCmd, promoteCmd, statusCmd)
	return cmd
}

func (f *canaryFlags) check() error {
	if f.timeout <= 0 {
		return failure.BadInputf("--timeout %s: must be positive (fix: give a duration such as 5m)", f.timeout)
	}
	if f.settle < 0 {
		return failure.BadInputf("--settle %s: must not be negative (fix: give a duration such as 10s, or 0)", f.settle)
	}
	return nil
}

// clients builds the API clients; nil config error is returned as is.
func (f *canaryFlags) clients(ns string) (*genericclioptions.ConfigFlags, kubernetes.Interface, istioclient.Interface, string, error) {
	flags := genericclioptions.NewConfigFlags(true)
	if f.kubeconfig != "" {
		flags.KubeConfig = &f.kubeconfig
	}
	if f.context != "" {
		flags.Context = &f.context
	}
	if ns == "" {
		var err error
		if ns, _, err = flags.ToRawKubeConfigLoader().Namespace(); err != nil {
			return nil, nil, nil, "", err
		}
	}
	flags.Namespace = &ns
	cfg, err := flags.ToRESTConfig()
	if err != nil {
		return nil, nil, nil, "", err
	}
	kc, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, nil, nil, "", err
	}
	// Reachable now, or say so at once (exit 3) rather than at the first
	// step's wait; a short probe, the default client retries for minutes.
	probe := rest.CopyConfig(cfg)
	probe.Timeout = 15 * time.Second
	pc, err := kubernetes.NewForConfig(probe)
	if err != nil {
		return nil, nil, nil, "", err
	}
	if _, err := pc.Discovery().ServerVersion(); err != nil {
		return nil, nil, nil, "", &installer.ClusterUnreachableError{Err: fmt.Errorf("API server %s is unreachable: %w", cfg.Host, err)}
	}
	ic, err := istioclient.NewForConfig(cfg)
	if err != nil {
		return nil, nil, nil, "", err
	}
	return flags, kc, ic, ns, nil
}

// store picks the mode: --release (helm mode, the file from --file or
// --repo) or --repo alone (GitOps mode).
func (f *canaryFlags) store(cmd *cobra.Command, app string) (canary.Store, *canary.Cluster, error) {
	switch {
	case f.release != "":
		// The AppMesh file the team's own helm upgrade uses is the one
		// source of truth: each step is written there first (docs/canary.md).
		var src canary.Store
		switch {
		case f.repo != "":
			src = &canary.GitStore{Dir: f.repo, App: app, File: f.file, Push: f.push, Warn: cmd.ErrOrStderr()}
		case f.file != "":
			src = &canary.FileStore{Path: f.file, App: app}
		default:
			return nil, nil, failure.BadInputf("--file: missing; helm mode writes every step into the AppMesh file your `helm upgrade --post-renderer-args --config=<file>` uses, so that your next routine helm upgrade carries the canary instead of dropping it (fix: give --file FILE, or --repo DIR [--file FILE] when it lives in git, one commit per step)")
		}
		ns := f.namespace
		if ns == "" {
			am, err := src.Load(cmd.Context())
			if err != nil {
				return nil, nil, err
			}
			ns = am.Metadata.Namespace
		}
		flags, kc, _, ns, err := f.clients(ns)
		if err != nil {
			return nil, nil, &unreachableError{err: fmt.Errorf("helm mode applies every step to the cluster: %w", err), local: src}
		}
		cfg := new(action.Configuration)
		if err := cfg.Init(flags, ns, "secret", func(string, ...any) {}); err != nil {
			return nil, nil, fmt.Errorf("helm: %w", err)
		}
		cl, err := f.cluster(flags, kc, ns, app)
		if err != nil {
			return nil, nil, err
		}
		// One canary command per app at a time, for its whole run: the lease
		// lets the next command unlock a release this one leaves
		// pending-upgrade if it is killed (docs/canary.md).
		held, err := canary.AcquireLease(cmd.Context(), kc, ns, app, "canary "+cmd.Name()+" "+app, f.stop)
		if err != nil {
			return nil, nil, err
		}
		f.unlease = func() {
			if err := held.Release(); err != nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "warning: %v\n", err)
			}
		}
		if took := held.TookOver(); took != "" {
			fmt.Fprintf(cmd.ErrOrStderr(), "%s (that command was stopped; resuming)\n", took)
		}
		return &canary.HelmStore{Config: cfg, Release: f.release, Cluster: cl, Source: src, Warn: cmd.ErrOrStderr(), Timeout: f.timeout, Lease: held}, cl, nil
	case f.repo != "":
		g := &canary.GitStore{Dir: f.repo, App: app, File: f.file, Push: f.push, Values: f.values, Warn: cmd.ErrOrStderr()}
		ns := f.namespace
		if ns == "" {
			// The AppMesh knows its namespace; Load is repeated by Run.
			am, err := g.Load(cmd.Context())
			if err != nil {
				return nil, nil, err
			}
			ns = am.Metadata.Namespace
		}
		flags, kc, _, ns, err := f.clients(ns)
		if err != nil {
			return nil, nil, &unreachableError{err: fmt.Errorf("GitOps mode checks every step against the cluster Argo CD syncs to, before committing it: %w (fix: --kubeconfig/--context; or --force to commit without any check)", err), local: g, gitops: true}
		}
		cl, err := f.cluster(flags, kc, ns, app)
		if err != nil {
			return nil, nil, err
		}
		return g, cl, nil
	}
	return nil, nil, failure.BadInputf("--repo, --release: missing, the way steps are applied (fix: give --repo DIR for GitOps, one commit per step, or --release NAME for a helm upgrade per step)")
}

// cluster is the app in the cluster, with what the gate after each step
// reads: the app's routing objects and istiod's debug endpoints (through a
// port-forward to its pods, or --istiod-url).
func (f *canaryFlags) cluster(flags *genericclioptions.ConfigFlags, kc kubernetes.Interface, ns, app string) (*canary.Cluster, error) {
	rc, err := flags.ToRESTConfig()
	if err != nil {
		return nil, err
	}
	cl := &canary.Cluster{Client: kc, Namespace: ns, App: app}
	if cl.Istio, err = istioclient.NewForConfig(rc); err != nil {
		return nil, err
	}
	if cl.Gateway, err = gatewayclient.NewForConfig(rc); err != nil {
		return nil, err
	}
	if f.istiodURL != "" {
		cl.Istiod = canary.IstiodURL(f.istiodURL)
		return cl, nil
	}
	ik, err := istiokube.NewCLIClient(istiokube.NewClientConfigForRestConfig(rc))
	if err != nil {
		return nil, fmt.Errorf("client for istiod's debug endpoints: %w", err)
	}
	cl.Istiod = &canary.IstiodPods{Client: ik, Namespace: f.istiodNamespace}
	return cl, nil
}

func (f *canaryFlags) run(cmd *cobra.Command, app string, req canary.Request) error {
	if err := f.check(); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, f.stop = context.WithCancelCause(ctx)
	defer f.stop(nil)
	cmd.SetContext(ctx)
	store, cl, err := f.store(cmd, app)
	if f.unlease != nil {
		defer f.unlease()
	}
	var unreachable *unreachableError
	if errors.As(err, &unreachable) {
		// Bad input is bad input with or without a cluster: plan against
		// the file alone first.
		cur, lerr := unreachable.local.Load(ctx)
		if lerr == nil {
			_, lerr = canary.NewPlan(cur, req)
		}
		if lerr != nil {
			return lerr
		}
		if !f.force || !unreachable.gitops {
			return unreachable
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "warning: --force: %v; committing one step without checking anything against the cluster\n", unreachable.err)
		store, cl, err = unreachable.local, nil, nil
		f.noWait = true // nothing to wait on: one step per run
	}
	if err != nil {
		return err
	}
	res, err := canary.Run(ctx, store, cl, req, canary.Options{Wait: !f.noWait, Timeout: f.timeout, Progress: cmd.ErrOrStderr(), Settle: settleOption(f.settle)})
	var lost *lease.LostError
	if cause := context.Cause(ctx); err != nil && errors.As(cause, &lost) {
		err = fmt.Errorf("%w (%w)", cause, err)
	}
	if res != nil && (err == nil || len(res.Applied) > 0) {
		if werr := f.output.write(cmd.OutOrStdout(), res, func(w io.Writer) error {
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "STEP\tREF\tMESSAGE")
			for _, s := range res.Applied {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", s.Name, s.Ref, s.Message)
			}
			for _, s := range res.Remaining {
				fmt.Fprintf(tw, "%s\t(next)\t\n", s)
			}
			return tw.Flush()
		}); werr != nil && err == nil {
			err = werr
		}
	}
	return err
}

func (f *canaryFlags) status(cmd *cobra.Command, app string) error {
	if err := f.check(); err != nil {
		return err
	}
	ns := f.namespace
	var g *canary.GitStore
	if f.repo != "" {
		g = &canary.GitStore{Dir: f.repo, App: app, File: f.file}
		am, err := g.Load(cmd.Context())
		if err != nil {
			return err
		}
		if ns == "" {
			ns = am.Metadata.Namespace
		}
	}
	flags, kc, ic, ns, err := f.clients(ns)
	var unreachable *installer.ClusterUnreachableError
	if errors.As(err, &unreachable) {
		return err
	}
	if err != nil {
		return &failure.BadInputError{Object: "kubeconfig", Err: err, Fix: "check --kubeconfig and --context (kubectl config get-contexts)"}
	}
	cl := &canary.Cluster{Client: kc, Namespace: ns, App: app}
	// Apps with routeAPI gateway-api keep their weights in Gateway API routes.
	if rc, err := flags.ToRESTConfig(); err == nil {
		if cl.Gateway, err = gatewayclient.NewForConfig(rc); err != nil {
			return err
		}
	}
	st, err := canary.ReadStatus(cmd.Context(), cl, ic)
	if err != nil {
		return err
	}
	switch {
	case g != nil:
		if last, err := g.LastCommit(); err == nil {
			st.LastStep = last
		}
	case f.release != "":
		cfg := new(action.Configuration)
		if err := cfg.Init(flags, ns, "secret", func(string, ...any) {}); err == nil {
			if rel, err := action.NewGet(cfg).Run(f.release); err == nil {
				st.LastStep = fmt.Sprintf("revision %d %s", rel.Version, rel.Info.Description)
			}
		}
	}
	return f.output.write(cmd.OutOrStdout(), st, func(w io.Writer) error {
		running := "no canary"
		if st.Running {
			running = "canary running"
		}
		fmt.Fprintf(w, "app %s/%s: %s", st.Namespace, st.App, running)
		if st.Phase != "" {
			fmt.Fprintf(w, ", phase %s, target %s", st.Phase, st.Target)
		}
		fmt.Fprintln(w)
		if st.LastStep != "" {
			fmt.Fprintf(w, "last step: %s\n", st.LastStep)
		}
		if len(st.Versions) > 0 {
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "VERSION\tDEPLOYMENT\tWEIGHT\tREADY\tIMAGE")
			for _, v := range st.Versions {
				fmt.Fprintf(tw, "%s\t%s\t%d%%\t%d/%d\t%s\n", v.Version, v.Deployment, v.Weight, v.Ready, v.Replicas, v.Image)
			}
			return tw.Flush()
		}
		for _, p := range st.Promoted {
			if p.Stale {
				fmt.Fprintf(w, "stale: spec.promoted %s pins %s, but the chart renders %s (not %s, which it replaced): the chart wins; remove the entry\n", p.Deployment, p.Image, p.Running, p.Replaces)
			}
		}
		return nil
	})
}

// settleOption maps --settle 0 ("none") to canary.Options' "negative: none".
func settleOption(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

// unreachableError: no usable cluster (no kubeconfig: bad input; an API
// server that does not answer: unreachable, exit 3). A step is refused
// unless GitOps mode is --force'd; local is the AppMesh file, so that bad
// input is reported first.
type unreachableError struct {
	err    error
	local  canary.Store
	gitops bool
}

func (e *unreachableError) Error() string { return e.err.Error() }
func (e *unreachableError) Unwrap() error { return e.err }

// Kind is the kind of the cause: BadInput for a kubeconfig that cannot be
// used, Unreachable for an API server that does not answer.
func (e *unreachableError) Kind() failure.Kind {
	if k := failure.KindOf(e.err); k != failure.Failed {
		return k
	}
	return failure.BadInput
}
