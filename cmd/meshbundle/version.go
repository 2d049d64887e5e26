package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/meshbundle/meshbundle/version"
)

func newVersionCmd() *cobra.Command {
	var out output
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print meshbundle's version and the Istio, Helm and Kubernetes versions it embeds",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			info := version.Get()
			return out.write(cmd.OutOrStdout(), info, func(w io.Writer) error {
				fmt.Fprintf(w, "meshbundle  %s\n", info.Meshbundle)
				fmt.Fprintf(w, "istio       %s (api %s)\n", info.Istio, info.IstioAPI)
				fmt.Fprintf(w, "helm        %s\n", info.Helm)
				fmt.Fprintf(w, "kubernetes  %s (client)\n", info.Kubernetes)
				_, err := fmt.Fprintf(w, "go          %s\n", info.Go)
				return err
			})
		},
	}
	registerOutput(cmd.Flags(), &out)
	return cmd
}
