// Package charts holds the checks that span every chart in this directory.
package charts

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/meshbundle/meshbundle/ci/testcluster"
)

// ownRegistry is where meshbundle's own images live (ci/images): a chart
// that runs one references it at the chart's appVersion or by digest.
const ownRegistry = "ghcr.io/meshbundle/"

// TestNoLatestImages runs the real `helm template` on every chart here, with
// every optional workload switched on, and also reads the YAML files a
// chart ships beside its templates (repo-server-patch.yaml): every image is
// pinned by a version tag or a digest, never :latest, and meshbundle's own
// images carry the chart's appVersion.
func TestNoLatestImages(t *testing.T) {
	helm, err := testcluster.Bin("helm")
	if err != nil {
		t.Fatal(err)
	}
	// Values that switch on what a chart renders only on request. Every
	// chart directory is rendered; a name here that is not one fails.
	extra := map[string][]string{
		"meshbundle-addons": {
			"--set", "kialiProxy.enabled=true",
			"--set", "kialiProxy.consoleOrigins[0]=https://console.example.com",
			"--set", "kialiProxy.hosts[0]=kiali.example.com",
			"--set", "kialiProxy.tls.secretName=kiali-proxy-tls",
		},
	}
	// At least these images must be found, or the walk is broken.
	wantImages := map[string][]string{
		"argocd-plugin":     {ownRegistry + "meshbundle:"},
		"meshbundle-addons": {"quay.io/kiali/kiali:", ownRegistry + "kiali-proxy:"},
		"example-app":       {"registry.k8s.io/e2e-test-images/agnhost:"},
	}
	dirs, err := filepath.Glob("*/Chart.yaml")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no charts found: %v", err)
	}
	seen := map[string]bool{}
	for _, chartYAML := range dirs {
		dir := filepath.Dir(chartYAML)
		seen[dir] = true
		t.Run(dir, func(t *testing.T) {
			args := append([]string{"template", "release", "./" + dir, "-n", "test"}, extra[dir]...)
			cmd := exec.Command(helm, args...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("helm %v: %v\n%s", args, err, stderr.String())
			}
			docs := [][]byte{out}
			// Files shipped beside the templates (patches users apply).
			side, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
			for _, f := range side {
				if base := filepath.Base(f); base == "Chart.yaml" || base == "values.yaml" {
					continue
				}
				b, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				docs = append(docs, b)
			}
			var images []string
			for _, d := range docs {
				imgs, err := imagesIn(d)
				if err != nil {
					t.Fatal(err)
				}
				images = append(images, imgs...)
			}
			appVersion := chartAppVersion(t, dir)
			for _, img := range images {
				if problem := unpinned(img); problem != "" {
					t.Errorf("image %q: %s", img, problem)
				}
				if strings.HasPrefix(img, ownRegistry) && !strings.Contains(img, "@sha256:") && !strings.HasSuffix(img, ":"+appVersion) {
					t.Errorf("image %q: meshbundle's own image must be at the chart's appVersion %q (what make images tags) or a digest", img, appVersion)
				}
			}
			for _, want := range wantImages[dir] {
				found := false
				for _, img := range images {
					found = found || strings.HasPrefix(img, want)
				}
				if !found {
					t.Errorf("no image %s* among %v: the walk or the values are broken", want, images)
				}
			}
		})
	}
	for dir := range extra {
		if !seen[dir] {
			t.Errorf("values for chart %s, which does not exist", dir)
		}
	}
}

// unpinned says what is wrong with an image reference ("" when pinned).
func unpinned(img string) string {
	if strings.Contains(img, "@sha256:") {
		return ""
	}
	last := img[strings.LastIndex(img, "/")+1:]
	_, tag, ok := strings.Cut(last, ":")
	switch {
	case !ok || tag == "":
		return "no tag (means :latest); pin a version or a digest"
	case tag == "latest":
		return ":latest; pin a version or a digest"
	}
	return ""
}

func TestUnpinned(t *testing.T) {
	tests := []struct {
		img    string // image reference
		pinned bool   // accepted
	}{
		{"quay.io/kiali/kiali:v2.27", true},
		{"ghcr.io/meshbundle/kiali-proxy@sha256:" + strings.Repeat("ab", 32), true},
		{"localhost:5000/x:1.0", true},
		// Negative controls: what TestNoLatestImages must catch.
		{"ghcr.io/meshbundle/meshbundle:latest", false},
		{"ghcr.io/meshbundle/meshbundle", false},
		{"localhost:5000/x", false},
	}
	for _, tc := range tests {
		if got := unpinned(tc.img) == ""; got != tc.pinned {
			t.Errorf("unpinned(%q) = %q, want pinned %v", tc.img, unpinned(tc.img), tc.pinned)
		}
	}
}

// imagesIn returns every "image" string anywhere in a multi-document YAML
// stream (containers, initContainers, patches alike).
func imagesIn(stream []byte) ([]string, error) {
	var out []string
	for _, doc := range bytes.Split(stream, []byte("\n---")) {
		var v any
		if err := yaml.Unmarshal(doc, &v); err != nil {
			return nil, err
		}
		walk(v, &out)
	}
	return out, nil
}

func walk(v any, out *[]string) {
	switch v := v.(type) {
	case map[string]any:
		for k, c := range v {
			if s, ok := c.(string); ok && k == "image" {
				*out = append(*out, s)
				continue
			}
			walk(c, out)
		}
	case []any:
		for _, c := range v {
			walk(c, out)
		}
	}
}

func chartAppVersion(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "Chart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		AppVersion string `json:"appVersion"`
	}
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c.AppVersion
}
