package main

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

const repoRoot = "../.."

// TestImages builds the images the way `make images` does (same code, the
// binaries built by the test), then treats each tarball as a user would:
// load it, check its config, run the binaries inside it as its user, push it
// to a registry and pull it back by digest.
func TestImages(t *testing.T) {
	out := t.TempDir()
	const version = "v0.0.0-imagetest"
	var printed bytes.Buffer
	if err := run(repoRoot, out, version, runtime.GOARCH, &printed); err != nil {
		t.Fatal(err)
	}
	helmVersion, err := goList(repoRoot, "-m", "-f", "{{.Version}}", "helm.sh/helm/v3")
	if err != nil {
		t.Fatal(err)
	}
	// A real OCI distribution registry (go-containerregistry's), served
	// in-process on 127.0.0.1.
	reg := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(reg.Close)
	host := strings.TrimPrefix(reg.URL, "http://")

	tests := []struct {
		name           string   // image (bin/images/<name>.tar)
		chart          string   // chart whose appVersion tags it
		wantEntrypoint []string // image entrypoint
		wantUID        int      // image user
		run            [][]string
		// wantOutput: for each command of run, a substring of its output.
		wantOutput []string
	}{
		{
			name: "meshbundle", chart: "charts/argocd-plugin",
			wantEntrypoint: []string{"/usr/local/bin/meshbundle"}, wantUID: 999,
			run: [][]string{
				{"/usr/local/bin/meshbundle", "version", "-o", "json"},
				{"/usr/local/bin/helm", "version", "--short"},
				{"/usr/local/bin/meshbundle", "argocd", "generate", "--help"},
			},
			wantOutput: []string{`"meshbundle": "` + version + `"`, helmVersion, "Usage:"},
		},
		{
			name: "kiali-proxy", chart: "charts/meshbundle-addons",
			wantEntrypoint: []string{"/usr/local/bin/meshbundle", "kiali-proxy"}, wantUID: 65532,
			run: [][]string{
				{"/usr/local/bin/meshbundle", "version", "-o", "json"},
				// The entrypoint itself is a command the binary has.
				{"/usr/local/bin/meshbundle", "kiali-proxy", "--help"},
			},
			wantOutput: []string{`"meshbundle": "` + version + `"`, "--console-origin"},
		},
	}
	if len(tests) != len(specs) {
		t.Fatalf("%d images built, %d checked: add the new image here", len(specs), len(tests))
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(out, tc.name+".tar")
			appVersion, err := appVersion(filepath.Join(repoRoot, tc.chart))
			if err != nil {
				t.Fatal(err)
			}
			tag, err := name.NewTag(Registry + "/" + tc.name + ":" + appVersion)
			if err != nil {
				t.Fatal(err)
			}
			// Loading by tag fails unless the tarball carries the chart's tag.
			img, err := tarball.ImageFromPath(path, &tag)
			if err != nil {
				t.Fatalf("load %s as %s: %v", path, tag, err)
			}
			digest, err := img.Digest()
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(printed.String(), tag.String()+"@"+digest.String()) {
				t.Errorf("make images output lacks %s@%s:\n%s", tag, digest, printed.String())
			}
			cf, err := img.ConfigFile()
			if err != nil {
				t.Fatal(err)
			}
			if cf.OS != "linux" || cf.Architecture != runtime.GOARCH {
				t.Errorf("platform %s/%s, want linux/%s", cf.OS, cf.Architecture, runtime.GOARCH)
			}
			if !slices.Equal(cf.Config.Entrypoint, tc.wantEntrypoint) {
				t.Errorf("entrypoint %q, want %q", cf.Config.Entrypoint, tc.wantEntrypoint)
			}
			uid, gid, err := nonRootUser(cf.Config.User)
			if err != nil || uid != tc.wantUID {
				t.Errorf("user %q: uid %d, %v; want non-root uid %d", cf.Config.User, uid, err, tc.wantUID)
			}
			if cf.Config.Labels["org.opencontainers.image.version"] != appVersion {
				t.Errorf("labels %v: want org.opencontainers.image.version %s", cf.Config.Labels, appVersion)
			}

			root := extract(t, img)
			for i, argv := range tc.run {
				got := runInImage(t, root, uid, gid, argv)
				if !strings.Contains(got, tc.wantOutput[i]) {
					t.Errorf("%v in the image: want %q in\n%s", argv, tc.wantOutput[i], got)
				}
			}

			// Reproducible: assembling it again from the same binaries gives
			// the same bytes.
			again := t.TempDir()
			var s spec
			for _, sp := range specs {
				if sp.Name == tc.name {
					s = sp
				}
			}
			bins := map[string]string{}
			for _, b := range s.Binaries {
				bins[b] = filepath.Join(out, "bin", runtime.GOARCH, b)
			}
			_, d2, err := writeImage(repoRoot, s, bins, runtime.GOARCH, again)
			if err != nil {
				t.Fatal(err)
			}
			if d2 != digest || fileSum(t, path) != fileSum(t, filepath.Join(again, tc.name+".tar")) {
				t.Errorf("second build: digest %s, first %s (or tarball bytes differ): not reproducible", d2, digest)
			}

			// Push by tag, pull back by digest.
			pushed, err := name.NewTag(host + "/meshbundle/" + tc.name + ":" + appVersion)
			if err != nil {
				t.Fatal(err)
			}
			if err := remote.Write(pushed, img); err != nil {
				t.Fatalf("push %s: %v", pushed, err)
			}
			byDigest, err := name.NewDigest(host + "/meshbundle/" + tc.name + "@" + digest.String())
			if err != nil {
				t.Fatal(err)
			}
			pulled, err := remote.Image(byDigest)
			if err != nil {
				t.Fatalf("pull %s: %v", byDigest, err)
			}
			if pd, _ := pulled.Digest(); pd != digest {
				t.Errorf("pulled digest %s, pushed %s", pd, digest)
			}
			if !sameLayers(t, img, pulled) {
				t.Errorf("pulled layers differ from the tarball's")
			}
			// Negative control: the registry does not hand out what it was
			// never given.
			missing, _ := name.NewDigest(host + "/meshbundle/" + tc.name + "@sha256:" + strings.Repeat("0", 64))
			if _, err := remote.Image(missing); err == nil {
				t.Errorf("pull of a digest never pushed succeeded: the registry check proves nothing")
			}
		})
	}
}

// nonRootUser parses an image's User ("uid[:gid]", numeric: a name would
// need the image's passwd and Kubernetes' runAsNonRoot refuses names).
func nonRootUser(user string) (uid, gid int, err error) {
	u, g, hasGroup := strings.Cut(user, ":")
	uid, err = strconv.Atoi(u)
	if err != nil {
		return 0, 0, errors.New("user must be a numeric uid")
	}
	if uid == 0 {
		return 0, 0, errors.New("user is root")
	}
	gid = uid
	if hasGroup {
		if gid, err = strconv.Atoi(g); err != nil {
			return 0, 0, errors.New("group must be a numeric gid")
		}
	}
	return uid, gid, nil
}

func TestNonRootUser(t *testing.T) {
	tests := []struct {
		user    string // image config User
		wantUID int    // parsed uid; -1 = refused
	}{
		{"999:999", 999}, {"65532", 65532},
		// Negative controls: what TestImages must refuse.
		{"", -1}, {"0", -1}, {"0:0", -1}, {"root", -1}, {"nonroot", -1}, {"999:x", -1},
	}
	for _, tc := range tests {
		uid, _, err := nonRootUser(tc.user)
		if (err != nil) != (tc.wantUID == -1) || (err == nil && uid != tc.wantUID) {
			t.Errorf("nonRootUser(%q) = %d, %v; want %d", tc.user, uid, err, tc.wantUID)
		}
	}
}

// extract writes the image's flattened filesystem into a directory.
func extract(t *testing.T, img v1.Image) string {
	t.Helper()
	root := t.TempDir()
	if err := os.Chmod(root, 0o755); err != nil { // the image's users must traverse it
		t.Fatal(err)
	}
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(root, filepath.FromSlash(h.Name))
		if !strings.HasPrefix(p, root+string(filepath.Separator)) {
			t.Fatalf("layer entry %q leaves the root", h.Name)
		}
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, os.FileMode(h.Mode).Perm()|os.ModeDir); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(p, fileMode(h.Mode)); err != nil {
				t.Fatal(err)
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, fileMode(h.Mode))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.Copy(f, tr); err != nil {
				t.Fatal(err)
			}
			f.Close()
		default:
			t.Fatalf("layer entry %q: unexpected type %c", h.Name, h.Typeflag)
		}
	}
	return root
}

func fileMode(m int64) os.FileMode {
	mode := os.FileMode(m).Perm()
	if m&0o1000 != 0 {
		mode |= os.ModeSticky
	}
	return mode
}

// runInImage runs argv with the image's filesystem as its root and as the
// image's user (root can chroot; elsewhere it runs the extracted binary
// directly, which still proves it is a static linux binary that works).
func runInImage(t *testing.T, root string, uid, gid int, argv []string) string {
	t.Helper()
	var cmd *exec.Cmd
	if os.Geteuid() == 0 {
		cmd = exec.Command(argv[0], argv[1:]...)
		cmd.SysProcAttr = &syscall.SysProcAttr{
			Chroot:     root,
			Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)},
		}
		cmd.Dir = "/tmp"
		cmd.Env = []string{"PATH=/usr/local/bin", "HOME=/tmp"}
	} else {
		t.Logf("not root: running %s from the extracted image without chroot", argv[0])
		cmd = exec.Command(filepath.Join(root, argv[0]), argv[1:]...)
		cmd.Env = []string{"HOME=" + t.TempDir()}
	}
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v in the image: %v\n%s", argv, err, b)
	}
	return string(b)
}

func fileSum(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

func sameLayers(t *testing.T, a, b v1.Image) bool {
	t.Helper()
	digests := func(img v1.Image) []string {
		ls, err := img.Layers()
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, l := range ls {
			d, err := l.Digest()
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, d.String())
		}
		return out
	}
	da, db := digests(a), digests(b)
	return len(da) > 0 && slices.Equal(da, db)
}
