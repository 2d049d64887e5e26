package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"
)

// exitError carries a specific exit code (see README "Exit codes") up to main.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// Exit codes shared by all commands; pipelines branch on them.
const (
	exitOK       = 0
	exitFailure  = 1 // the operation failed
	exitBadInput = 2 // flags, files or config are invalid; nothing was changed
	// exitUnreachable: the API server did not answer; nothing was changed.
	exitUnreachable = 3
	// exitTimeout: --timeout passed; the work done so far stays, re-run to finish.
	exitTimeout = 4
	// exitLocked: another installer or gateway run holds the cluster's
	// installer lease; nothing was changed, retry when it has finished.
	exitLocked = 5
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
	return root
}

// run executes the CLI and maps errors to exit codes; errors go to stderr.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRootCmd(stdin, stdout, stderr)
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return exitOK
	}
	fmt.Fprintf(stderr, "Error: %v\n", err)
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return exitFailure
}
