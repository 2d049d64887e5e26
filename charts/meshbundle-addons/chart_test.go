package addonschart

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"
	"helm.sh/helm/v3/pkg/releaseutil"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/meshbundle/meshbundle/dashboards"
	"github.com/meshbundle/meshbundle/rules"

	"github.com/meshbundle/meshbundle/internal/golden"
)

// chartFiles are the generated files the chart embeds: the
// prometheus-operator objects and the dashboards' JSON.
func chartFiles(t *testing.T) map[string][]byte {
	t.Helper()
	rf, err := rules.Files(rules.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	df, err := dashboards.Files()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, n := range []string{rules.FilePrometheusRule, rules.FilePodMonitor, rules.FileServiceMonitor} {
		out[filepath.Join("files", n)] = rf[n]
	}
	for n, b := range df {
		out[filepath.Join("files", "dashboards", n)] = b
	}
	return out
}

// TestChartFiles fails when files/ is stale; refresh with
// `go generate ./charts/meshbundle-addons` (UPDATE_GOLDEN=1).
func TestChartFiles(t *testing.T) {
	for path, want := range chartFiles(t) {
		golden.Check(t, path, want, "`go generate ./charts/meshbundle-addons`")
	}
}

func TestLint(t *testing.T) {
	kv, err := chartutil.ParseKubeVersion("v1.37.2")
	if err != nil {
		t.Fatal(err)
	}
	l := lint.AllWithKubeVersion(".", nil, "istio-system", kv)
	for _, m := range l.Messages {
		if m.Severity >= support.WarningSev {
			t.Errorf("helm lint: %s", m)
		}
	}
}

// render installs the chart client-only (Helm's dry run) into istio-system
// with the given values and extra API groups, returning objects by
// "Kind/name".
func render(t *testing.T, values map[string]any, apis ...string) (map[string]string, error) {
	t.Helper()
	ch, err := loader.Load(".")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range ch.Files {
		if strings.HasSuffix(f.Name, ".go") {
			t.Fatalf("chart packages Go file %s: .helmignore must exclude it", f.Name)
		}
	}
	install := action.NewInstall(&action.Configuration{})
	install.DryRun, install.ClientOnly, install.Replace = true, true, true
	install.ReleaseName, install.Namespace = "meshbundle-addons", "istio-system"
	install.APIVersions = apis
	kv, err := chartutil.ParseKubeVersion("v1.37.2")
	if err != nil {
		t.Fatal(err)
	}
	install.KubeVersion = kv
	rel, err := install.Run(ch, values)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, m := range releaseutil.SplitManifests(rel.Manifest) {
		var head struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name      string `json:"name"`
				Namespace string `json:"namespace"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal([]byte(m), &head); err != nil {
			t.Fatalf("rendered manifest is not YAML: %v\n%s", err, m)
		}
		if head.Kind == "" {
			continue
		}
		out[head.Kind+"/"+head.Metadata.Name] = m
	}
	return out, nil
}

// decode strictly decodes a rendered object into its Go type: an unknown or
// misspelled field fails the test.
func decode(t *testing.T, manifest string, into any) {
	t.Helper()
	if err := yaml.UnmarshalStrict([]byte(manifest), into); err != nil {
		t.Fatalf("decode %T: %v\n%s", into, err, manifest)
	}
}

const (
	monitoringAPI = "monitoring.coreos.com/v1"
	grafanaAPI    = "grafana.integreatly.org/v1beta1"
)

func TestRender(t *testing.T) {
	tests := []struct {
		name       string         // case
		values     map[string]any // chart values
		apis       []string       // API groups the cluster serves beyond Kubernetes' own
		monitoring bool           // PrometheusRule, PodMonitor and ServiceMonitor rendered
		operator   string         // GrafanaDashboard content: "", "json" or "grafanaCom"
		kiali      bool           // Kiali objects rendered
	}{
		{name: "defaults without prometheus-operator", kiali: true},
		{name: "defaults with prometheus-operator", apis: []string{monitoringAPI}, monitoring: true, kiali: true},
		{name: "monitoring forced on", values: map[string]any{"monitoring": map[string]any{"enabled": true}}, monitoring: true, kiali: true},
		{name: "monitoring forced off", values: map[string]any{"monitoring": map[string]any{"enabled": false}}, apis: []string{monitoringAPI}, kiali: true},
		{name: "grafana-operator present", apis: []string{grafanaAPI}, operator: "json", kiali: true},
		{name: "grafana-operator online import", apis: []string{grafanaAPI},
			values: map[string]any{"dashboards": map[string]any{"grafanaOperator": map[string]any{"online": true}}}, operator: "grafanaCom", kiali: true},
		{name: "no kiali", values: map[string]any{"kiali": map[string]any{"enabled": false}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			objs, err := render(t, tc.values, tc.apis...)
			if err != nil {
				t.Fatal(err)
			}
			_, hasRule := objs["PrometheusRule/istio-workload-recording-rules"]
			_, hasPM := objs["PodMonitor/istio-proxies"]
			_, hasSM := objs["ServiceMonitor/istiod"]
			if hasRule != tc.monitoring || hasPM != tc.monitoring || hasSM != tc.monitoring {
				t.Errorf("PrometheusRule %v PodMonitor %v ServiceMonitor %v, want %v", hasRule, hasPM, hasSM, tc.monitoring)
			}
			if tc.monitoring {
				checkMonitoring(t, objs)
			}
			for _, s := range dashboards.All() {
				var cm corev1.ConfigMap
				decode(t, objs["ConfigMap/"+s.ObjectName()], &cm)
				want, _ := s.JSON()
				if cm.Labels[dashboards.SidecarLabel] != "1" || cm.Namespace != "istio-system" || strings.TrimSpace(cm.Data[s.File]) != strings.TrimSpace(string(want)) {
					t.Errorf("ConfigMap %s: labels %v namespace %s, data matches generated JSON: %v", s.ObjectName(), cm.Labels, cm.Namespace, strings.TrimSpace(cm.Data[s.File]) == strings.TrimSpace(string(want)))
				}
				gd, ok := objs["GrafanaDashboard/"+s.ObjectName()]
				if ok != (tc.operator != "") {
					t.Errorf("GrafanaDashboard %s rendered %v, want %v", s.ObjectName(), ok, tc.operator != "")
				}
				if ok {
					var obj struct {
						Spec map[string]any `json:"spec"`
					}
					if err := yaml.Unmarshal([]byte(gd), &obj); err != nil {
						t.Fatal(err)
					}
					if _, has := obj.Spec[tc.operator]; !has {
						t.Errorf("GrafanaDashboard %s spec lacks %s: %v", s.ObjectName(), tc.operator, obj.Spec)
					}
					if tc.operator == "grafanaCom" {
						gc := obj.Spec["grafanaCom"].(map[string]any)
						if gc["id"] != float64(s.GnetID) || gc["revision"] != float64(s.Revision) {
							t.Errorf("grafanaCom %v, want id %d revision %d", gc, s.GnetID, s.Revision)
						}
					}
				}
			}
			// kiali-proxy needs a console, a host and a certificate: off
			// unless asked for (TestRenderKialiProxy renders it).
			if _, ok := objs["Deployment/kiali-proxy"]; ok {
				t.Errorf("kiali-proxy rendered without kialiProxy.enabled")
			}
			_, hasKiali := objs["Deployment/kiali"]
			if hasKiali != tc.kiali {
				t.Fatalf("Kiali Deployment rendered %v, want %v", hasKiali, tc.kiali)
			}
			if tc.kiali {
				checkKiali(t, objs)
			}
		})
	}
}

// checkMonitoring compares the rendered objects with what package rules
// generates for istio-system.
func checkMonitoring(t *testing.T, objs map[string]string) {
	t.Helper()
	var pr monitoringv1.PrometheusRule
	decode(t, objs["PrometheusRule/istio-workload-recording-rules"], &pr)
	if want := rules.PrometheusRule(rules.DefaultOptions()); !reflect.DeepEqual(pr.Spec, want.Spec) || pr.Namespace != "istio-system" {
		t.Errorf("PrometheusRule differs from rules.PrometheusRule:\n%+v", pr)
	}
	var pm monitoringv1.PodMonitor
	decode(t, objs["PodMonitor/istio-proxies"], &pm)
	if want := rules.PodMonitor(rules.DefaultOptions()); !reflect.DeepEqual(pm.Spec, want.Spec) {
		t.Errorf("PodMonitor differs from rules.PodMonitor:\n%+v", pm.Spec)
	}
	var sm monitoringv1.ServiceMonitor
	decode(t, objs["ServiceMonitor/istiod"], &sm)
	if want := rules.ServiceMonitor(rules.DefaultOptions()); !reflect.DeepEqual(sm.Spec, want.Spec) {
		t.Errorf("ServiceMonitor differs from rules.ServiceMonitor:\n%+v", sm.Spec)
	}
}

func checkKiali(t *testing.T, objs map[string]string) {
	t.Helper()
	for _, k := range []string{"ServiceAccount/kiali", "Service/kiali", "ConfigMap/kiali", "ClusterRole/meshbundle-addons-kiali", "ClusterRoleBinding/meshbundle-addons-kiali"} {
		if _, ok := objs[k]; !ok {
			t.Errorf("%s not rendered", k)
		}
	}
	var d appsv1.Deployment
	decode(t, objs["Deployment/kiali"], &d)
	if d.Spec.Template.Spec.ServiceAccountName != "kiali" || d.Spec.Template.Labels["sidecar.istio.io/inject"] != "false" {
		t.Errorf("Kiali Deployment: service account %q, labels %v", d.Spec.Template.Spec.ServiceAccountName, d.Spec.Template.Labels)
	}
	var cm corev1.ConfigMap
	decode(t, objs["ConfigMap/kiali"], &cm)
	var cfg struct {
		Auth struct {
			Strategy string `json:"strategy"`
		} `json:"auth"`
		LoginToken struct {
			SigningKey string `json:"signing_key"`
		} `json:"login_token"`
		Server struct {
			WebRoot string `json:"web_root"`
		} `json:"server"`
		ExternalServices struct {
			Prometheus struct {
				URL string `json:"url"`
			} `json:"prometheus"`
			Grafana struct {
				InternalURL string `json:"internal_url"`
				Dashboards  []struct {
					Name      string            `json:"name"`
					Variables map[string]string `json:"variables"`
				} `json:"dashboards"`
			} `json:"grafana"`
			Tracing struct {
				InternalURL string `json:"internal_url"`
			} `json:"tracing"`
		} `json:"external_services"`
	}
	if err := yaml.Unmarshal([]byte(cm.Data["config.yaml"]), &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Auth.Strategy != "header" || len(cfg.LoginToken.SigningKey) != 32 || cfg.Server.WebRoot != "/kiali" {
		t.Errorf("kiali config: strategy %q, signing key length %d, web root %q", cfg.Auth.Strategy, len(cfg.LoginToken.SigningKey), cfg.Server.WebRoot)
	}
	es := cfg.ExternalServices
	if es.Prometheus.URL == "" || es.Grafana.InternalURL == "" || es.Tracing.InternalURL == "" {
		t.Errorf("kiali config lacks Prometheus, Grafana or Jaeger URL: %+v", es)
	}
	// Kiali links to Grafana by dashboard title, passing the entity as URL
	// variables, which must be variables of our dashboards.
	byTitle := map[string]map[string]string{}
	for _, d := range es.Grafana.Dashboards {
		byTitle[d.Name] = d.Variables
	}
	for _, s := range dashboards.All() {
		vars, ok := byTitle[s.Title]
		if !ok {
			t.Errorf("kiali grafana.dashboards lacks %q", s.Title)
			continue
		}
		board, _ := s.JSON()
		for _, urlVar := range vars {
			name := strings.TrimPrefix(urlVar, "var-")
			if !strings.Contains(string(board), `"name": "`+name+`"`) {
				t.Errorf("kiali passes %s to %q, which has no variable %q", urlVar, s.Title, name)
			}
		}
	}
	if len(byTitle["Istio Service Dashboard"]) == 0 || len(byTitle["Istio Workload Dashboard"]) == 0 {
		t.Errorf("kiali passes no variables to the service/workload dashboards: %v", byTitle)
	}
}

func TestRenderErrors(t *testing.T) {
	tests := []struct {
		name    string         // case
		values  map[string]any // chart values
		wantErr string         // part of the error
	}{
		{name: "token strategy needs a signing key", values: map[string]any{"kiali": map[string]any{"authStrategy": "token"}}, wantErr: "kiali.signingKey: required"},
		{name: "kiali-proxy needs console origins", values: kialiProxyValues(func(p map[string]any) { delete(p, "consoleOrigins") }), wantErr: "kialiProxy.consoleOrigins: required"},
		{name: "kiali-proxy needs hosts", values: kialiProxyValues(func(p map[string]any) { delete(p, "hosts") }), wantErr: "kialiProxy.hosts: required"},
		{name: "kiali-proxy needs a TLS Secret", values: kialiProxyValues(func(p map[string]any) { delete(p, "tls") }), wantErr: "kialiProxy.tls.secretName: required"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := render(t, tc.values)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want %q", err, tc.wantErr)
			}
		})
	}
}

// kialiProxyValues are chart values enabling kiali-proxy with every
// required field, changed by edit.
func kialiProxyValues(edit func(p map[string]any)) map[string]any {
	p := map[string]any{
		"enabled":        true,
		"consoleOrigins": []any{"https://console.example.com"},
		"hosts":          []any{"kiali.example.com"},
		"tls":            map[string]any{"secretName": "kiali-proxy-tls"},
	}
	edit(p)
	return map[string]any{"kialiProxy": p}
}

func TestRenderKialiProxy(t *testing.T) {
	ch, err := loader.Load(".")
	if err != nil {
		t.Fatal(err)
	}
	appVersion := ch.Metadata.AppVersion
	tests := []struct {
		name      string               // case
		edit      func(map[string]any) // change to the complete kialiProxy values
		wantImage string               // container image
		wantArgs  []string             // container args, in order
		wantTLS   bool                 // Secret mounted, HTTPS port name
	}{
		{
			name: "defaults: chart appVersion tag, this release's Kiali, TLS from the Secret",
			edit: func(map[string]any) {}, wantImage: "ghcr.io/meshbundle/kiali-proxy:" + appVersion, wantTLS: true,
			wantArgs: []string{"--listen=:8443", "--upstream=http://kiali.istio-system:20001", "--web-root=/kiali",
				"--console-origin=https://console.example.com", "--host=kiali.example.com",
				"--tls-cert=/etc/kiali-proxy/tls/tls.crt", "--tls-key=/etc/kiali-proxy/tls/tls.key"},
		},
		{
			name: "digest pin, several origins and hosts, own upstream, TLS at the ingress",
			edit: func(p map[string]any) {
				p["digest"] = "sha256:" + strings.Repeat("ab", 32)
				p["consoleOrigins"] = []any{"https://a.example.com", "https://b.example.com:8443"}
				p["hosts"] = []any{"kiali.example.com", "kiali.example.com:8443"}
				p["upstream"] = "http://kiali.observability:20001"
				p["tls"] = map[string]any{"enabled": false}
			},
			wantImage: "ghcr.io/meshbundle/kiali-proxy@sha256:" + strings.Repeat("ab", 32),
			wantArgs: []string{"--listen=:8443", "--upstream=http://kiali.observability:20001", "--web-root=/kiali",
				"--console-origin=https://a.example.com", "--console-origin=https://b.example.com:8443",
				"--host=kiali.example.com", "--host=kiali.example.com:8443"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			objs, err := render(t, kialiProxyValues(tc.edit))
			if err != nil {
				t.Fatal(err)
			}
			var d appsv1.Deployment
			decode(t, objs["Deployment/kiali-proxy"], &d)
			pod := d.Spec.Template.Spec
			if len(pod.Containers) != 1 {
				t.Fatalf("containers %+v", pod.Containers)
			}
			c := pod.Containers[0]
			if c.Image != tc.wantImage {
				t.Errorf("image %q, want %q", c.Image, tc.wantImage)
			}
			if !reflect.DeepEqual(c.Args, tc.wantArgs) {
				t.Errorf("args\n%q\nwant\n%q", c.Args, tc.wantArgs)
			}
			if pod.SecurityContext == nil || pod.SecurityContext.RunAsNonRoot == nil || !*pod.SecurityContext.RunAsNonRoot ||
				c.SecurityContext == nil || c.SecurityContext.ReadOnlyRootFilesystem == nil || !*c.SecurityContext.ReadOnlyRootFilesystem {
				t.Errorf("kiali-proxy must run as non-root with a read-only root: pod %+v container %+v", pod.SecurityContext, c.SecurityContext)
			}
			if d.Spec.Selector == nil || d.Spec.Selector.MatchLabels["app.kubernetes.io/name"] != "kiali-proxy" {
				t.Errorf("selector %+v", d.Spec.Selector)
			}
			mounted := len(pod.Volumes) == 1 && pod.Volumes[0].Secret != nil && pod.Volumes[0].Secret.SecretName == "kiali-proxy-tls" &&
				len(c.VolumeMounts) == 1 && c.VolumeMounts[0].MountPath == "/etc/kiali-proxy/tls"
			if mounted != tc.wantTLS {
				t.Errorf("TLS Secret mounted %v, want %v: volumes %+v mounts %+v", mounted, tc.wantTLS, pod.Volumes, c.VolumeMounts)
			}
			var svc corev1.Service
			decode(t, objs["Service/kiali-proxy"], &svc)
			wantPort := map[bool]string{true: "https", false: "http"}[tc.wantTLS]
			if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Name != wantPort || svc.Spec.Ports[0].Port != 443 ||
				svc.Spec.Ports[0].TargetPort.StrVal != "proxy" || svc.Spec.Selector["app.kubernetes.io/name"] != "kiali-proxy" {
				t.Errorf("Service ports %+v selector %v, want %s 443 -> proxy", svc.Spec.Ports, svc.Spec.Selector, wantPort)
			}
			if len(c.Ports) != 1 || c.Ports[0].Name != "proxy" || c.Ports[0].ContainerPort != 8443 {
				t.Errorf("container ports %+v", c.Ports)
			}
		})
	}
}
