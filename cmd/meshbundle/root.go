package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/meshbundle/meshbundle/failure"
)

// newRootCmd wires every subcommand. Each lives in its own file.
func newRootCmd(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "meshbundle",
		Short:         "Istio for a container cloud: installer, Helm post-renderer, canary, gateways, observability",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(
		newVersionCmd(),
		newInstallCmd(), newUpgradeCmd(), newUninstallCmd(), newStatusCmd(), newTagCmd(),
		newPostrenderCmd(),
		newDashboardsCmd(), newRulesCmd(), newKialiProxyCmd(),
		newCanaryCmd(),
		newArgoCDCmd(),
		newGatewayCmd(), newClusterCmd(),
	)
	// Unknown flags, bad flag values, unknown subcommands and wrong
	// argument counts are bad input of every command, like the checks the
	// commands make themselves.
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &failure.BadInputError{Object: c.CommandPath(), Err: err, Fix: "see " + c.CommandPath() + " --help"}
	})
	badArgsAreBadInput(root)
	return root
}

// badArgsAreBadInput makes cobra's argument checks of cmd and its
// subcommands return failure.BadInputError. A command group (which cobra
// would answer with its help and exit 0 whatever follows) prints its help
// only without arguments and otherwise names the unknown subcommand.
func badArgsAreBadInput(cmd *cobra.Command) {
	if cmd.HasSubCommands() && !cmd.Runnable() {
		cmd.Args = cobra.NoArgs
		cmd.RunE = func(c *cobra.Command, _ []string) error { return c.Help() }
	}
	if check := cmd.Args; check != nil {
		cmd.Args = func(c *cobra.Command, args []string) error {
			err := check(c, args)
			if err != nil && failure.KindOf(err) == failure.Failed {
				return &failure.BadInputError{Object: c.CommandPath(), Err: err, Fix: "see " + c.CommandPath() + " --help"}
			}
			return err
		}
	}
	for _, sub := range cmd.Commands() {
		badArgsAreBadInput(sub)
	}
}

// run executes the CLI; errors go to stderr, and their kind is the exit
// code (failure.KindOf, the one mapping; README "Exit codes"). Bad input
// that names no object of its own is the command's: the message starts
// with the command ("meshbundle install: --timeout 0s: ...").
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) failure.Kind {
	root := newRootCmd(stdin, stdout, stderr)
	root.SetArgs(args)
	c, err := root.ExecuteC()
	var bad *failure.BadInputError
	if errors.As(err, &bad) && bad.Object == "" && c != nil {
		bad.Object = c.CommandPath()
	}
	if err != nil {
		fmt.Fprintf(stderr, "Error: %v\n", err)
	}
	return failure.KindOf(err)
}
