// Package postrendercmd is the command line of the post-renderer, shared by
// the lean `meshbundle-postrender` binary and `meshbundle postrender`.
package postrendercmd

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/meshbundle/meshbundle/appmesh"
	"github.com/meshbundle/meshbundle/failure"
	"github.com/meshbundle/meshbundle/gatewayconfig"
	"github.com/meshbundle/meshbundle/renderer"
)

// NewCommand returns the post-render command. It reads all of stdin, and
// writes the rendered stream to stdout only when everything succeeded, so
// Helm applies nothing on error.
func NewCommand(use string) *cobra.Command {
	var config string
	var gatewayConfigs []string
	cmd := &cobra.Command{
		Use:   use,
		Short: "Helm post-renderer: put a chart's manifests into the Istio mesh as its AppMesh file says",
		Long: `Reads the manifests Helm rendered on stdin and writes them to stdout with
sidecar injection, Istio-conformant port names, VirtualService/DestinationRule,
aliases and a state ConfigMap, as the AppMesh file given with --config says.
Without --config: injection on, port names enforced.

  helm install shop ./chart -n shop --post-renderer meshbundle-postrender \
    --post-renderer-args --config=appmesh.yaml

On any error nothing is written to stdout and the exit code is non-zero.
See docs/renderer.md.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if err := cobra.NoArgs(cmd, args); err != nil {
				return &failure.BadInputError{Object: "arguments", Err: err, Fix: "pass options as flags; the manifests come on stdin"}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			var am *appmesh.AppMesh
			if config != "" {
				var err error
				if am, err = appmesh.Load(config); err != nil {
					return &failure.BadInputError{Field: "--config", Err: err}
				}
			}
			r := renderer.New(am, cmd.ErrOrStderr())
			for _, path := range gatewayConfigs {
				gc, err := gatewayconfig.Load(path)
				if err != nil {
					return &failure.BadInputError{Field: "--gateway-config", Err: err}
				}
				r = r.WithGateways(gc)
			}
			// Render writes nothing on bad input, so stdout gets the
			// output or nothing, and the output is never held twice.
			err := r.Render(cmd.InOrStdin(), cmd.OutOrStdout())
			var werr *renderer.OutputError
			if errors.As(err, &werr) {
				return werr
			}
			if err != nil {
				return failure.BadInputf("post-render: %w", err)
			}
			return nil
		},
	}
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return &failure.BadInputError{Object: "flags", Err: err, Fix: "see --help"}
	})
	cmd.Flags().StringVar(&config, "config", "", "AppMesh file (default: injection on, port names enforced)")
	cmd.Flags().StringArrayVar(&gatewayConfigs, "gateway-config", nil, "GatewayConfig file (repeatable): routes may only bind to these gateways and hosts they serve")
	return cmd
}

// Main runs the lean binary with the CLI's exit codes (failure.Code): 0 on
// success, 2 on bad input, 1 otherwise.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cmd := NewCommand("meshbundle-postrender")
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	cmd.SetArgs(args)
	cmd.SetIn(stdin)
	cmd.SetOut(stdout)
	cmd.SetErr(stderr)
	err := cmd.Execute()
	if err == nil {
		return 0
	}
	fmt.Fprintf(stderr, "Error: %v\n", err)
	return failure.Code(err)
}
