// Command images builds meshbundle's OCI images without Docker, from
// binaries built here, with go-containerregistry: `make images` writes
// bin/images/<name>.tar (`docker save` format, loadable with `docker load`,
// pushable with `crane push`).
//
//   - meshbundle: the Argo CD Config Management Plugin sidecar
//     (charts/argocd-plugin/repo-server-patch.yaml): meshbundle and helm,
//     user 999 (the uid Argo CD runs plugin sidecars as).
//   - kiali-proxy: `meshbundle kiali-proxy` for charts/meshbundle-addons
//     (kialiProxy.enabled), user 65532.
//
// Each is tagged with the appVersion of the chart that runs it, so a chart
// and its image cannot disagree. The images are reproducible: same binaries,
// same bytes (no timestamps, fixed owners, sorted entries).
package main

import (
	"archive/tar"
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"sigs.k8s.io/yaml"
)

// Registry is where the charts expect the images.
const Registry = "ghcr.io/meshbundle"

// binDir is where the binaries go inside an image (on the image's PATH).
const binDir = "usr/local/bin"

// spec describes one image.
type spec struct {
	// Name is the image's file name (bin/images/<Name>.tar) and repository.
	Name string
	// Chart is the chart directory whose appVersion tags the image.
	Chart string
	// Binaries are the names, from the binaries built here, put in binDir.
	Binaries []string
	// Entrypoint and User of the image config; User must not be root.
	Entrypoint []string
	User       string
}

var specs = []spec{
	{Name: "meshbundle", Chart: "charts/argocd-plugin", Binaries: []string{"meshbundle", "helm"},
		Entrypoint: []string{"/" + binDir + "/meshbundle"}, User: "999:999"},
	{Name: "kiali-proxy", Chart: "charts/meshbundle-addons", Binaries: []string{"meshbundle"},
		Entrypoint: []string{"/" + binDir + "/meshbundle", "kiali-proxy"}, User: "65532:65532"},
}

func main() {
	out := flag.String("out", "bin/images", "directory the image tarballs are written to")
	version := flag.String("version", "dev", "meshbundle version stamped into the binary (make passes git describe)")
	goarch := flag.String("arch", runtime.GOARCH, "architecture of the images (GOARCH)")
	flag.Parse()
	if err := run(".", *out, *version, *goarch, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "images:", err)
		os.Exit(1)
	}
}

// run builds the binaries into out/bin and every image into out.
func run(repo, out, version, goarch string, stdout io.Writer) error {
	bins, err := buildBinaries(repo, filepath.Join(out, "bin", goarch), version, goarch)
	if err != nil {
		return err
	}
	for _, s := range specs {
		ref, digest, err := writeImage(repo, s, bins, goarch, out)
		if err != nil {
			return fmt.Errorf("image %s: %w", s.Name, err)
		}
		fmt.Fprintf(stdout, "%s@%s %s\n", ref, digest, filepath.Join(out, s.Name+".tar"))
	}
	return nil
}

// buildBinaries builds static linux binaries (CGO_ENABLED=0: the images
// have no libc) of meshbundle and helm, helm stamped like ci/tools.sh
// stamps it. It returns name -> path.
func buildBinaries(repo, dir, version, goarch string) (map[string]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	helmVersion, err := goList(repo, "-m", "-f", "{{.Version}}", "helm.sh/helm/v3")
	if err != nil {
		return nil, err
	}
	k8sVersion, err := goList(repo, "-m", "-f", "{{.Version}}", "k8s.io/client-go")
	if err != nil {
		return nil, err
	}
	// client-go v0.X.Y serves Kubernetes v1.X.Y; without the stamp helm
	// template assumes Kubernetes v1.20.
	minor := strings.Split(strings.TrimPrefix(k8sVersion, "v"), ".")[1]
	builds := []struct{ name, pkg, ldflags string }{
		{"meshbundle", "./cmd/meshbundle", "-s -w -X github.com/meshbundle/meshbundle/version.Version=" + version},
		{"helm", "helm.sh/helm/v3/cmd/helm", "-s -w -X helm.sh/helm/v3/internal/version.version=" + helmVersion +
			" -X helm.sh/helm/v3/internal/version.gitTreeState=clean" +
			" -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=" + minor +
			" -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=" + minor},
	}
	out := map[string]string{}
	for _, b := range builds {
		path := filepath.Join(dir, b.name)
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags", b.ldflags, "-o", path, b.pkg)
		cmd.Dir = repo
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+goarch)
		if o, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("build %s (%s): %w\n%s", b.name, b.pkg, err, o)
		}
		out[b.name] = path
	}
	return out, nil
}

func goList(repo string, args ...string) (string, error) {
	cmd := exec.Command("go", append([]string{"list"}, args...)...)
	cmd.Dir = repo
	o, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go list %v: %w", args, err)
	}
	return strings.TrimSpace(string(o)), nil
}

// appVersion reads the appVersion of the chart in dir.
func appVersion(dir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, "Chart.yaml"))
	if err != nil {
		return "", err
	}
	var c struct {
		AppVersion string `json:"appVersion"`
	}
	if err := yaml.Unmarshal(b, &c); err != nil {
		return "", fmt.Errorf("%s/Chart.yaml: %w", dir, err)
	}
	if c.AppVersion == "" || c.AppVersion == "latest" {
		return "", fmt.Errorf("%s/Chart.yaml: appVersion %q: set a version; it tags the image", dir, c.AppVersion)
	}
	return c.AppVersion, nil
}

// Tag is the reference the chart in s.Chart uses for the image.
func (s spec) tag(repo string) (name.Tag, error) {
	v, err := appVersion(filepath.Join(repo, s.Chart))
	if err != nil {
		return name.Tag{}, err
	}
	return name.NewTag(Registry+"/"+s.Name+":"+v, name.StrictValidation)
}

// writeImage assembles s from bins and writes out/<s.Name>.tar, returning
// the image's tag and digest.
func writeImage(repo string, s spec, bins map[string]string, goarch, out string) (name.Tag, v1.Hash, error) {
	tag, err := s.tag(repo)
	if err != nil {
		return name.Tag{}, v1.Hash{}, err
	}
	img, err := build(s, bins, goarch, tag.TagStr())
	if err != nil {
		return name.Tag{}, v1.Hash{}, err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return name.Tag{}, v1.Hash{}, err
	}
	if err := tarball.WriteToFile(filepath.Join(out, s.Name+".tar"), tag, img); err != nil {
		return name.Tag{}, v1.Hash{}, err
	}
	d, err := img.Digest()
	return tag, d, err
}

// build is the image itself: one layer (the binaries, a passwd naming the
// users, CA certificates, a writable /tmp and home) on an empty base.
func build(s spec, bins map[string]string, goarch, version string) (v1.Image, error) {
	files := []entry{
		{path: "etc/passwd", mode: 0o644, data: []byte("root:x:0:0:root:/root:/sbin/nologin\n" +
			"argocd:x:999:999:argocd:/home/argocd:/sbin/nologin\n" +
			"nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n")},
		{path: "etc/group", mode: 0o644, data: []byte("root:x:0:\nargocd:x:999:\nnonroot:x:65532:\n")},
		{path: "tmp", dir: true, mode: 0o1777},
		{path: "home/argocd", dir: true, mode: 0o755, uid: 999},
		{path: "home/nonroot", dir: true, mode: 0o755, uid: 65532},
	}
	// helm (and kiali-proxy towards an https upstream) verify TLS peers;
	// the bundle comes from the build machine's ca-certificates package.
	if ca, err := os.ReadFile("/etc/ssl/certs/ca-certificates.crt"); err == nil {
		files = append(files, entry{path: "etc/ssl/certs/ca-certificates.crt", mode: 0o644, data: ca})
	} else {
		return nil, fmt.Errorf("CA bundle: %w; install Debian's ca-certificates (ci/deps.sh does)", err)
	}
	for _, b := range s.Binaries {
		p, ok := bins[b]
		if !ok {
			return nil, fmt.Errorf("binary %s was not built", b)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		files = append(files, entry{path: binDir + "/" + b, mode: 0o755, data: data})
	}
	layerTar, err := tarLayer(files)
	if err != nil {
		return nil, err
	}
	// Docker media types (empty.Image's): the `docker save` tarball keeps
	// no manifest, and loading it rebuilds a Docker one, so with these the
	// digest printed here is the digest of the tarball's image.
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	})
	if err != nil {
		return nil, err
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", goarch
	cf.Config.Entrypoint = s.Entrypoint
	cf.Config.User = s.User
	cf.Config.Env = []string{"PATH=/" + binDir + ":/usr/bin:/bin", "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"}
	cf.Config.WorkingDir = "/tmp"
	cf.Config.Labels = map[string]string{
		"org.opencontainers.image.title":   s.Name,
		"org.opencontainers.image.version": version,
		"org.opencontainers.image.source":  "https://github.com/meshbundle/meshbundle",
	}
	// No creation time: the same binaries give the same digest.
	cf.Created = v1.Time{}
	cf.History = nil
	return mutate.ConfigFile(img, cf)
}

// entry is one file or directory of a layer.
type entry struct {
	path string
	dir  bool
	mode int64
	uid  int
	data []byte
}

// tarLayer writes entries (and their parent directories) sorted by path,
// with zero timestamps, so equal inputs give equal bytes.
func tarLayer(files []entry) ([]byte, error) {
	all := map[string]entry{}
	for _, f := range files {
		all[f.path] = f
		for d := filepath.Dir(f.path); d != "."; d = filepath.Dir(d) {
			if _, ok := all[d]; !ok {
				all[d] = entry{path: d, dir: true, mode: 0o755}
			}
		}
	}
	paths := make([]string, 0, len(all))
	for p := range all {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, p := range paths {
		e := all[p]
		h := &tar.Header{Name: p, Mode: e.mode, Uid: e.uid, Gid: e.uid, ModTime: time.Unix(0, 0), Format: tar.FormatUSTAR}
		if e.dir {
			h.Typeflag, h.Name = tar.TypeDir, p+"/"
		} else {
			h.Typeflag, h.Size = tar.TypeReg, int64(len(e.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(e.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
