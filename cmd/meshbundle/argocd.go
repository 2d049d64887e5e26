package main

import (
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/meshbundle/meshbundle/argocd"
	"github.com/meshbundle/meshbundle/failure"
)

// newArgoCDCmd is `meshbundle argocd`, the commands Argo CD's cmp-server
// runs for the meshbundle Config Management Plugin (charts/argocd-plugin).
func newArgoCDCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "argocd",
		Short: "Argo CD Config Management Plugin commands",
	}
	cmd.AddCommand(newArgoCDGenerateCmd())
	return cmd
}

func newArgoCDGenerateCmd() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "generate",
		Short: "Render the app's Helm chart through the meshbundle renderer, as Argo CD's plugin generate step",
		Long: `Renders the Helm chart in the app directory (the working directory Argo CD's
cmp-server runs the plugin in) with the Helm SDK and puts it into the mesh as
the app's AppMesh file says; prints the manifests on stdout.

Inputs (set by Argo CD): ARGOCD_APP_NAME (release name), ARGOCD_APP_NAMESPACE,
ARGOCD_APP_SOURCE_PATH, KUBE_VERSION and KUBE_API_VERSIONS (.Capabilities), the
plugin parameters in ARGOCD_APP_PARAMETERS (or PARAM_<NAME>): appmesh,
values-files, values, set, release-name; and the Application's plugin env
ARGOCD_ENV_APPMESH, ARGOCD_ENV_VALUES_FILES, ARGOCD_ENV_RELEASE_NAME.

On any error: message on stderr, non-zero exit, nothing on stdout (an empty
output would make Argo CD prune the app). See docs/argocd.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := argocd.ParamsFromEnv(environ())
			if err != nil {
				return &failure.BadInputError{Err: err, Fix: "correct the plugin parameters in the Application's spec.source.plugin (docs/argocd.md)"}
			}
			return argocd.Generate(dir, p, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	cmd.Flags().StringVar(&dir, "dir", ".", "app directory (Argo CD runs generate in it)")
	return cmd
}

// environ is the process environment as a map.
func environ() map[string]string {
	env := map[string]string{}
	for _, kv := range os.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	return env
}
