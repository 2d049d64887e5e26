package argocd

import (
	"reflect"
	"strings"
	"testing"
)

func TestParamsFromEnv(t *testing.T) {
	base := map[string]string{"ARGOCD_APP_NAME": "shop", "ARGOCD_APP_NAMESPACE": "shop-ns", "ARGOCD_APP_SOURCE_PATH": "apps/shop"}
	with := func(kv ...string) map[string]string {
		env := map[string]string{}
		for k, v := range base {
			env[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			env[kv[i]] = kv[i+1]
		}
		return env
	}
	for _, tc := range []struct {
		name    string            // the case
		env     map[string]string // what cmp-server sets
		want    Params            // the merged inputs
		wantErr string            // substring of the error, when one is expected
	}{
		{name: "defaults from the build environment", env: with("KUBE_VERSION", "1.33.0", "KUBE_API_VERSIONS", "v1, apps/v1,"),
			want: Params{AppMesh: "appmesh.yaml", ReleaseName: "shop", Namespace: "shop-ns", SourcePath: "apps/shop", KubeVersion: "1.33.0", APIVersions: []string{"v1", "apps/v1"}}},
		{name: "Application env over defaults", env: with("ARGOCD_ENV_APPMESH", "mesh/prod.yaml", "ARGOCD_ENV_VALUES_FILES", "a.yaml,b.yaml", "ARGOCD_ENV_RELEASE_NAME", "shop-prod"),
			want: Params{AppMesh: "mesh/prod.yaml", ValuesFiles: []string{"a.yaml", "b.yaml"}, ReleaseName: "shop-prod", Namespace: "shop-ns", SourcePath: "apps/shop"}},
		{name: "parameters over Application env", env: with("ARGOCD_ENV_VALUES_FILES", "a.yaml", "ARGOCD_APP_PARAMETERS",
			`[{"name":"values-files","array":["p.yaml"]},{"name":"appmesh","string":"x.yaml"},{"name":"set","map":{"a.b":"1"}},{"name":"values","string":"k: v"},{"name":"release-name","string":"r"}]`),
			want: Params{AppMesh: "x.yaml", ValuesFiles: []string{"p.yaml"}, Values: "k: v", Set: map[string]string{"a.b": "1"}, ReleaseName: "r", Namespace: "shop-ns", SourcePath: "apps/shop"}},
		{name: "PARAM_ variables without the JSON", env: with("PARAM_VALUES_FILES_0", "a.yaml", "PARAM_VALUES_FILES_1", "b.yaml", "PARAM_APPMESH", "m.yaml"),
			want: Params{AppMesh: "m.yaml", ValuesFiles: []string{"a.yaml", "b.yaml"}, ReleaseName: "shop", Namespace: "shop-ns", SourcePath: "apps/shop"}},
		{name: "JSON wins over PARAM_ variables", env: with("PARAM_APPMESH", "ignored.yaml", "ARGOCD_APP_PARAMETERS", `[{"name":"appmesh","string":"json.yaml"}]`),
			want: Params{AppMesh: "json.yaml", ReleaseName: "shop", Namespace: "shop-ns", SourcePath: "apps/shop"}},
		{name: "map parameter without the JSON", env: with("PARAM_SET_WEB_REPLICAS", "3"), wantErr: "arrives only through ARGOCD_APP_PARAMETERS"},
		{name: "map given as array", env: with("ARGOCD_APP_PARAMETERS", `[{"name":"set","array":["a=1"]}]`), wantErr: "want a map"},
		{name: "string given as map", env: with("ARGOCD_APP_PARAMETERS", `[{"name":"appmesh","map":{"a":"b"}}]`), wantErr: "want a string"},
		{name: "no release name", env: map[string]string{}, wantErr: "ARGOCD_APP_NAME is not set"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParamsFromEnv(tc.env)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}
