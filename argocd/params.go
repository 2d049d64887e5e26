// Package argocd is meshbundle's Argo CD Config Management Plugin: it renders
// an Application's Helm chart with the Helm SDK, the way `helm template`
// does, and pipes it through the same renderer as the Helm post-renderer,
// with the app's AppMesh file. See docs/argocd.md.
package argocd

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Parameter names, as announced in charts/argocd-plugin's plugin.yaml and
// set in an Application under spec.source.plugin.parameters.
const (
	ParamAppMesh     = "appmesh"      // string: AppMesh file, relative to the app directory
	ParamValuesFiles = "values-files" // array: values files, relative to the app directory, in order
	ParamValues      = "values"       // string: inline values YAML, over the values files
	ParamSet         = "set"          // map: --set key=value pairs, over everything else
	ParamRelease     = "release-name" // string: Helm release name (default $ARGOCD_APP_NAME)
)

// DefaultAppMesh is the AppMesh file a directory must contain to be
// discovered by the plugin (plugin.yaml discover.fileName).
const DefaultAppMesh = "appmesh.yaml"

// Params are the plugin's inputs after merging Argo CD's sources.
type Params struct {
	AppMesh     string
	ValuesFiles []string
	Values      string
	Set         map[string]string
	ReleaseName string
	Namespace   string
	// KubeVersion and APIVersions are the destination cluster's, from
	// KUBE_VERSION / KUBE_API_VERSIONS: they drive .Capabilities.
	KubeVersion string
	APIVersions []string
	// SourcePath is ARGOCD_APP_SOURCE_PATH: the app directory inside the
	// checkout; files may not be read from outside the checkout.
	SourcePath string
}

// parameter is one element of ARGOCD_APP_PARAMETERS, Argo CD's JSON list of
// the Application's plugin parameters (string, array or map).
type parameter struct {
	Name   string            `json:"name"`
	String *string           `json:"string,omitempty"`
	Array  []string          `json:"array,omitempty"`
	Map    map[string]string `json:"map,omitempty"`
}

// ParamsFromEnv reads the environment Argo CD's cmp-server gives the
// generate command. Precedence, highest first: plugin parameters
// (ARGOCD_APP_PARAMETERS, or PARAM_<NAME> when the JSON is absent), then
// the Application's plugin env (ARGOCD_ENV_APPMESH, ARGOCD_ENV_VALUES_FILES
// comma-separated, ARGOCD_ENV_RELEASE_NAME), then defaults.
func ParamsFromEnv(env map[string]string) (Params, error) {
	p := Params{
		AppMesh:     DefaultAppMesh,
		ReleaseName: env["ARGOCD_APP_NAME"],
		Namespace:   env["ARGOCD_APP_NAMESPACE"],
		KubeVersion: env["KUBE_VERSION"],
		SourcePath:  env["ARGOCD_APP_SOURCE_PATH"],
	}
	if v := env["KUBE_API_VERSIONS"]; v != "" {
		for _, gv := range strings.Split(v, ",") {
			if gv = strings.TrimSpace(gv); gv != "" {
				p.APIVersions = append(p.APIVersions, gv)
			}
		}
	}
	if v := env["ARGOCD_ENV_APPMESH"]; v != "" {
		p.AppMesh = v
	}
	if v := env["ARGOCD_ENV_VALUES_FILES"]; v != "" {
		p.ValuesFiles = strings.Split(v, ",")
	}
	if v := env["ARGOCD_ENV_RELEASE_NAME"]; v != "" {
		p.ReleaseName = v
	}

	params, err := parameters(env)
	if err != nil {
		return Params{}, err
	}
	for _, prm := range params {
		switch prm.Name {
		case ParamAppMesh, ParamValues, ParamRelease:
			if prm.String == nil {
				return Params{}, fmt.Errorf("plugin parameter %q: want a string (fix: set `string:` in the Application's spec.source.plugin.parameters)", prm.Name)
			}
			switch prm.Name {
			case ParamAppMesh:
				p.AppMesh = *prm.String
			case ParamValues:
				p.Values = *prm.String
			case ParamRelease:
				p.ReleaseName = *prm.String
			}
		case ParamValuesFiles:
			if prm.String != nil || prm.Map != nil {
				return Params{}, fmt.Errorf("plugin parameter %q: want an array (fix: set `array:`)", prm.Name)
			}
			p.ValuesFiles = prm.Array
		case ParamSet:
			if prm.String != nil || prm.Array != nil {
				return Params{}, fmt.Errorf("plugin parameter %q: want a map (fix: set `map:`)", prm.Name)
			}
			p.Set = prm.Map
		default:
			return Params{}, fmt.Errorf("unknown plugin parameter %q (fix: use %s, %s, %s, %s or %s)", prm.Name, ParamAppMesh, ParamValuesFiles, ParamValues, ParamSet, ParamRelease)
		}
	}
	if p.ReleaseName == "" {
		return Params{}, fmt.Errorf("no release name: ARGOCD_APP_NAME is not set (fix: run under Argo CD, or set the %q parameter)", ParamRelease)
	}
	return p, nil
}

// parameters decodes ARGOCD_APP_PARAMETERS. Without it, the PARAM_<NAME>
// variables Argo CD also sets are read: PARAM_APPMESH, PARAM_VALUES,
// PARAM_RELEASE_NAME, PARAM_VALUES_FILES_<i>. Map parameters need the JSON:
// PARAM_SET_<KEY> loses the key's case and dots.
func parameters(env map[string]string) ([]parameter, error) {
	if raw := env["ARGOCD_APP_PARAMETERS"]; raw != "" {
		var ps []parameter
		if err := json.Unmarshal([]byte(raw), &ps); err != nil {
			return nil, fmt.Errorf("ARGOCD_APP_PARAMETERS: %w (fix: it must be Argo CD's JSON list of {name, string|array|map})", err)
		}
		return ps, nil
	}
	var ps []parameter
	for _, name := range []string{ParamAppMesh, ParamValues, ParamRelease} {
		if v, ok := env[envName(name)]; ok {
			ps = append(ps, parameter{Name: name, String: &v})
		}
	}
	var files []string
	for i := 0; ; i++ {
		v, ok := env[envName(ParamValuesFiles)+"_"+strconv.Itoa(i)]
		if !ok {
			break
		}
		files = append(files, v)
	}
	if files != nil {
		ps = append(ps, parameter{Name: ParamValuesFiles, Array: files})
	}
	var mapped []string
	for k := range env {
		if strings.HasPrefix(k, envName(ParamSet)+"_") {
			mapped = append(mapped, k)
		}
	}
	if len(mapped) > 0 {
		sort.Strings(mapped)
		return nil, fmt.Errorf("%s: map parameter %q arrives only through ARGOCD_APP_PARAMETERS, which is not set (fix: run under Argo CD's cmp-server)", strings.Join(mapped, ", "), ParamSet)
	}
	return ps, nil
}

// envName is Argo CD's PARAM_<NAME>: upper case, '-' and '.' become '_'.
func envName(param string) string {
	return "PARAM_" + strings.NewReplacer("-", "_", ".", "_").Replace(strings.ToUpper(param))
}
