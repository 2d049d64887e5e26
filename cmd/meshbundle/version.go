package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/meshbundle/meshbundle/failure"
	"github.com/meshbundle/meshbundle/version"
)

func newVersionCmd() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print meshbundle's version and the Istio, Helm and Kubernetes versions it embeds",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			info := version.Get()
			switch output {
			case "json":
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(info)
			case "":
				w := cmd.OutOrStdout()
				fmt.Fprintf(w, "meshbundle  %s\n", info.Meshbundle)
				fmt.Fprintf(w, "istio       %s (api %s)\n", info.Istio, info.IstioAPI)
				fmt.Fprintf(w, "helm        %s\n", info.Helm)
				fmt.Fprintf(w, "kubernetes  %s (client)\n", info.Kubernetes)
				fmt.Fprintf(w, "go          %s\n", info.Go)
				return nil
			default:
				return failure.BadInputf("flag --output %q: want json or empty", output)
			}
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "output format: json")
	return cmd
}
