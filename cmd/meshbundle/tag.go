package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/meshbundle/meshbundle/installer"
)

// tagFlags select the cluster for the tag subcommands.
type tagFlags struct {
	kubeconfig, context string
	timeout             time.Duration
	output              output
}

func (f *tagFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.kubeconfig, "kubeconfig", "", "path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
	fl.StringVar(&f.context, "context", "", "kubeconfig context to use (default: the current context)")
	fl.DurationVar(&f.timeout, "timeout", time.Minute, "give up after this long (exit code 4)")
	registerOutput(fl, &f.output)
}

// tagResult is what tag set and tag remove print.
type tagResult struct {
	Tag      string `json:"tag"`
	Revision string `json:"revision,omitempty"`
	// Action is "set" or "removed".
	Action string `json:"action"`
}

func (f *tagFlags) options() installer.Options {
	return installer.Options{Kubeconfig: f.kubeconfig, Context: f.context, Timeout: f.timeout}
}

func newTagCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "tag",
		Short: "Manage Istio revision tags (like istioctl tag): which istiod revision injects the namespaces labelled istio.io/rev=<tag>",
		Long: `A revision tag points namespaces labelled istio.io/rev=<tag> at one istiod
revision (installed with meshbundle install --revision). Move the tag, restart
the namespace's workloads, and they run the other revision's proxies. The
webhook and Service are rendered by Istio's istiod chart (its revision-tags
templates). Exit codes as for install (5: another run holds the lease;
6: remove refused while namespaces select the tag).
See docs/installer.md "Upgrading Istio".`,
	}
	cmd.AddCommand(newTagSetCmd(), newTagListCmd(), newTagRemoveCmd())
	return cmd
}

func newTagSetCmd() *cobra.Command {
	var f tagFlags
	var revision string
	var overwrite bool
	cmd := &cobra.Command{
		Use:     "set TAG [--revision REVISION]",
		Short:   "Create a tag pointing at a revision, or move it with --overwrite",
		Example: "  meshbundle tag set prod --revision 1-31-0\n  meshbundle tag set prod --revision canary --overwrite",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := installer.TagSet(cmd.Context(), f.options(), args[0], revision, overwrite); err != nil {
				return err
			}
			return f.output.write(cmd.OutOrStdout(), tagResult{Tag: args[0], Revision: revision, Action: "set"}, func(w io.Writer) error {
				_, err := fmt.Fprintf(w, "tag %s → revision %s; restart the workloads of namespaces labelled istio.io/rev=%s to move them\n", args[0], revision, args[0])
				return err
			})
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&revision, "revision", installer.DefaultRevision, "the istiod revision the tag points at (default: the istiod release)")
	cmd.Flags().BoolVar(&overwrite, "overwrite", false, "move an existing tag")
	return cmd
}

func newTagListCmd() *cobra.Command {
	var f tagFlags
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List revision tags, their revisions and the namespaces that select them",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			tags, err := installer.TagList(cmd.Context(), f.options())
			if err != nil {
				return err
			}
			return f.output.write(cmd.OutOrStdout(), tags, func(w io.Writer) error {
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "TAG\tREVISION\tNAMESPACES")
				for _, t := range tags {
					fmt.Fprintf(tw, "%s\t%s\t%s\n", t.Tag, t.Revision, strings.Join(t.Namespaces, ","))
				}
				return tw.Flush()
			})
		},
	}
	f.register(cmd)
	return cmd
}

func newTagRemoveCmd() *cobra.Command {
	var f tagFlags
	var force bool
	cmd := &cobra.Command{
		Use:   "remove TAG",
		Short: "Remove a tag; refused while namespaces select it unless --force",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := installer.TagRemove(cmd.Context(), f.options(), args[0], force); err != nil {
				return err
			}
			return f.output.write(cmd.OutOrStdout(), tagResult{Tag: args[0], Action: "removed"}, func(w io.Writer) error {
				_, err := fmt.Fprintf(w, "tag %s removed\n", args[0])
				return err
			})
		},
	}
	f.register(cmd)
	cmd.Flags().BoolVar(&force, "force", false, "remove the tag although namespaces select it (their new pods are not injected)")
	return cmd
}
