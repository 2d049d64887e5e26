package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	kyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/meshbundle/meshbundle/ci/bench/chartgen"
)

// The variants of the post-render comparison. The pipelines run the real
// helm CLI with --post-renderer, as a user would; the standalone rows run
// the post-renderer alone on helm's saved output, so its own CPU and memory
// are not buried in helm's noise.
const (
	vHelm          = "helm template"
	vHelmMesh      = "helm template + meshbundle-postrender"
	vHelmKustomize = "helm template + kustomize"
	vHelmYQ        = "helm template + yq"
	vMesh          = "meshbundle-postrender alone"
	vMeshLimit     = "meshbundle-postrender alone, GOMEMLIMIT at the budget"
	vYQ            = "yq alone"
	vArgo          = "meshbundle argocd generate"
)

var renderVariants = []string{vHelm, vHelmMesh, vHelmKustomize, vHelmYQ, vMesh, vMeshLimit, vYQ, vArgo}

// release is the namespace and release name every chart renders with.
const namespace = "shop"

// yqExpr is the subset of meshbundle's edits yq can express in one
// expression: pod-template injection label and annotation on every
// Deployment, and the rename of the "web" port (80) to "http-web".
const yqExpr = `(select(.kind == "Deployment") | .spec.template.metadata.annotations["sidecar.istio.io/inject"]) = "true" |
(select(.kind == "Deployment") | .spec.template.metadata.labels["sidecar.istio.io/inject"]) = "true" |
(select(.kind == "Service") | .spec.ports[] | select(.name == "web" and .port == 80) | .name) = "http-web"`

// sizeSetup is everything one chart size needs on disk.
type sizeSetup struct {
	n                int
	chart            string // chart directory
	appmesh          string // AppMesh file for meshbundle-postrender
	kustomizeWrapper string // post-renderer script running kustomize build
	yqWrapper        string // post-renderer script running yq
	rendered         string // helm template's output (input of the standalone rows)
	inputBytes       int64
	// memLimit is the GOMEMLIMIT of the vMeshLimit row: the memory budget
	// (20 MB + 3 × input) less the post-renderer's start-up RSS, which is
	// mostly code and data pages outside Go's limit (0: row not run).
	memLimit         int64
	routes, aliases  int
	badPorts         int
	canaryRequested  bool
	canaryRendered   bool   // whether this build renders the canary copy
	meshOutDocs      int    // documents meshbundle-postrender wrote
	kustomizeSkipped string // why kustomize does not run at this size
}

func setupSize(work string, n int, tools toolset, kustomizeMax int) (*sizeSetup, error) {
	dir := filepath.Join(work, fmt.Sprintf("n%d", n))
	s := &sizeSetup{n: n, chart: filepath.Join(dir, "chart"), rendered: filepath.Join(dir, "rendered.yaml")}
	// The AppMesh file sits in the chart directory, where the Argo CD plugin
	// looks for it (the chart's .helmignore keeps it out of helm's load).
	s.appmesh = filepath.Join(s.chart, chartgen.AppMeshFile)
	if err := chartgen.Write(s.chart, n); err != nil {
		return nil, err
	}
	am, routes, aliases := appMeshFor(n)
	s.routes, s.aliases, s.canaryRequested = routes, aliases, true
	if err := os.WriteFile(s.appmesh, []byte(am), 0o644); err != nil {
		return nil, err
	}
	for i := range n {
		if chartgen.HasBadPort(i) {
			s.badPorts++
		}
	}
	if n > kustomizeMax {
		s.kustomizeSkipped = fmt.Sprintf("not run above %d pairs (-kustomize-max): its cost grows super-linearly (DESIGN §7: 86 CPU-s at 2 000), one run at %d would take many minutes", kustomizeMax, n)
	} else {
		kdir := filepath.Join(dir, "kustomize")
		if err := os.MkdirAll(kdir, 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(kdir, "kustomization.yaml"), []byte(kustomizationFor(n)), 0o644); err != nil {
			return nil, err
		}
		// Helm runs one executable with stdin; kustomize needs its input as
		// a file next to a kustomization, hence the two-line wrapper.
		s.kustomizeWrapper = filepath.Join(dir, "kustomize-postrender.sh")
		script := fmt.Sprintf("#!/bin/sh\nset -e\ncat > %q\nexec %q build %q\n", filepath.Join(kdir, "all.yaml"), tools.kustomize, kdir)
		if err := os.WriteFile(s.kustomizeWrapper, []byte(script), 0o755); err != nil {
			return nil, err
		}
	}
	s.yqWrapper = filepath.Join(dir, "yq-postrender.sh")
	script := fmt.Sprintf("#!/bin/sh\nexec %q eval %s -\n", tools.yq, shellQuote(yqExpr))
	if err := os.WriteFile(s.yqWrapper, []byte(script), 0o755); err != nil {
		return nil, err
	}
	return s, nil
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// appMeshFor turns every filter on: ports fixed, a route through a gateway
// for every tenth Service, an alias for every tenth Service (alternating the
// ExternalName default and a custom-domain ServiceEntry), the state
// ConfigMap (always on), and a canary of the first Deployment.
func appMeshFor(n int) (doc string, routes, aliases int) {
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: meshbundle.dev/v1alpha1\nkind: AppMesh\nmetadata:\n  name: %s\n  namespace: %s\nspec:\n  ports:\n    mode: fix\n", chartgen.Name, namespace)
	b.WriteString("  routes:\n")
	for i := 0; i < n; i += 10 {
		fmt.Fprintf(&b, "  - service: %s\n    gateway: istio-ingress/public\n    hosts: [%s.shop.example.com]\n", chartgen.ServiceName(i), chartgen.ServiceName(i))
		routes++
	}
	b.WriteString("  aliases:\n")
	for i := 0; i < n; i += 10 {
		name := "alias-" + chartgen.ServiceName(i)
		if (i/10)%2 == 1 {
			name = chartgen.ServiceName(i) + ".bench.internal"
		}
		fmt.Fprintf(&b, "  - name: %s\n    service: %s\n", name, chartgen.ServiceName(i))
		aliases++
	}
	fmt.Fprintf(&b, "  canary:\n    target: %s\n    version: v2\n    image: registry.example/shop/app:2.0.0\n    weight: 10\n    phase: Progressing\n", chartgen.ServiceName(0))
	return b.String(), routes, aliases
}

// kustomizationFor is the kustomize equivalent of the subset it can do:
// the pod-template injection label and annotation on every Deployment (one
// patch with a kind target) and the port renames. Kustomize cannot choose
// which ports to rename, so the user has to list each bad Service — one JSON
// patch per Service, which is what makes its cost grow with N × patches.
func kustomizationFor(n int) string {
	var b strings.Builder
	b.WriteString("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- all.yaml\npatches:\n")
	b.WriteString("- target:\n    kind: Deployment\n  patch: |-\n    - op: add\n      path: /spec/template/metadata/annotations\n      value: {\"sidecar.istio.io/inject\": \"true\"}\n    - op: add\n      path: /spec/template/metadata/labels/sidecar.istio.io~1inject\n      value: \"true\"\n")
	for i := range n {
		if chartgen.HasBadPort(i) {
			fmt.Fprintf(&b, "- target:\n    kind: Service\n    name: %s\n  patch: |-\n    - op: replace\n      path: /spec/ports/0/name\n      value: http-web\n", chartgen.ServiceName(i))
		}
	}
	return b.String()
}

// commands returns the command of each variant for this size.
func (s *sizeSetup) commands(tools toolset) map[string]cmdSpec {
	helm := func(extra ...string) cmdSpec {
		args := append([]string{"template", chartgen.Name, s.chart, "-n", namespace}, extra...)
		return cmdSpec{path: tools.helm, args: args}
	}
	m := map[string]cmdSpec{
		vHelm:     helm(),
		vHelmMesh: helm("--post-renderer", tools.postrender, "--post-renderer-args", "--config="+s.appmesh),
		vHelmYQ:   helm("--post-renderer", s.yqWrapper),
		vMesh:     {path: tools.postrender, args: []string{"--config=" + s.appmesh}, stdin: s.rendered},
		vYQ:       {path: tools.yq, args: []string{"eval", yqExpr, "-"}, stdin: s.rendered},
	}
	if s.kustomizeWrapper != "" {
		m[vHelmKustomize] = helm("--post-renderer", s.kustomizeWrapper)
	}
	if s.memLimit > 0 {
		// The trade-off row: the same run held to the memory budget by Go's
		// soft limit, paying for it in collector CPU.
		c := m[vMesh]
		c.env = []string{"GOMEMLIMIT=" + strconv.FormatInt(s.memLimit, 10)}
		m[vMeshLimit] = c
	}
	if tools.argocd {
		// What Argo CD's cmp-server runs in the app directory on every refresh.
		m[vArgo] = cmdSpec{path: tools.meshbundle, args: []string{"argocd", "generate", "--dir", s.chart},
			env: []string{"ARGOCD_APP_NAME=" + chartgen.Name, "ARGOCD_APP_NAMESPACE=" + namespace}}
	}
	return m
}

// check renders once with every variant and checks each tool really did
// its edits, so the comparison is between tools doing the same work.
func (s *sizeSetup) check(ctx context.Context, tools toolset) error {
	cmds := s.commands(tools)
	h := cmds[vHelm]
	h.stdout = s.rendered
	if _, err := runOnce(ctx, h); err != nil {
		return err
	}
	fi, err := os.Stat(s.rendered)
	if err != nil {
		return err
	}
	s.inputBytes = fi.Size()
	for _, v := range []string{vHelmMesh, vHelmKustomize, vHelmYQ, vArgo} {
		c, ok := cmds[v]
		if !ok {
			continue
		}
		c.stdout = filepath.Join(filepath.Dir(s.rendered), "out-"+strings.ReplaceAll(v, " ", "")+".yaml")
		if _, err := runOnce(ctx, c); err != nil {
			return fmt.Errorf("%s at %d pairs: %w", v, s.n, err)
		}
		out, err := os.ReadFile(c.stdout)
		if err != nil {
			return err
		}
		got, err := inspect(out)
		if err != nil {
			return fmt.Errorf("%s at %d pairs: output: %w", v, s.n, err)
		}
		if got.injected != s.n {
			return fmt.Errorf("%s at %d pairs: %d of %d Deployments have the injection label and annotation", v, s.n, got.injected, s.n)
		}
		if got.renamed != s.badPorts || got.badLeft != 0 {
			return fmt.Errorf("%s at %d pairs: %d ports renamed to http-web (want %d), %d still named web", v, s.n, got.renamed, s.badPorts, got.badLeft)
		}
		if v == vHelmMesh || v == vArgo {
			if got.virtualServices < s.routes {
				return fmt.Errorf("%s at %d pairs: %d VirtualServices, want at least %d (one per route)", v, s.n, got.virtualServices, s.routes)
			}
		}
		if v == vHelmMesh {
			s.canaryRendered = got.canary
			s.meshOutDocs = got.docs
		}
	}
	return nil
}

// outputFacts is what the check counts in a post-renderer's output.
type outputFacts struct {
	docs            int
	injected        int // chart Deployments with the inject label and annotation "true"
	renamed         int // chart Service ports named http-web
	badLeft         int // chart Service ports still named web
	virtualServices int
	canary          bool // the canary copy of svc-0000 is there
}

// inspect decodes the output stream (apimachinery's YAML reader and
// sigs.k8s.io/yaml, as Helm does) and counts the edits.
func inspect(out []byte) (outputFacts, error) {
	var f outputFacts
	rd := kyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(out)))
	for {
		doc, err := rd.Read()
		if errors.Is(err, io.EOF) {
			return f, nil
		}
		if err != nil {
			return f, err
		}
		var o struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name string `json:"name"`
			} `json:"metadata"`
			Spec struct {
				Type  string `json:"type"`
				Ports []struct {
					Name string `json:"name"`
				} `json:"ports"`
				Template struct {
					Metadata struct {
						Labels      map[string]string `json:"labels"`
						Annotations map[string]string `json:"annotations"`
					} `json:"metadata"`
				} `json:"template"`
			} `json:"spec"`
		}
		if err := yaml.Unmarshal(doc, &o); err != nil {
			return f, err
		}
		if o.Kind == "" {
			continue // an empty document
		}
		f.docs++
		chartObject := chartName.MatchString(o.Metadata.Name)
		switch {
		case o.Kind == "Service" && chartObject && o.Spec.Type != "ExternalName":
			for _, p := range o.Spec.Ports {
				switch p.Name {
				case "http-web":
					f.renamed++
				case "web":
					f.badLeft++
				}
			}
		case o.Kind == "Deployment" && chartObject:
			const key = "sidecar.istio.io/inject"
			if o.Spec.Template.Metadata.Labels[key] == "true" && o.Spec.Template.Metadata.Annotations[key] == "true" {
				f.injected++
			}
		case o.Kind == "Deployment" && o.Metadata.Name == chartgen.ServiceName(0)+"-v2":
			f.canary = true
		case o.Kind == "VirtualService":
			f.virtualServices++
		}
	}
}

// chartName matches the chart's own objects (not generated ones).
var chartName = regexp.MustCompile(`^svc-[0-9]{4}$`)

// sizeResult holds the medians of every variant at one size.
type sizeResult struct {
	setup *sizeSetup
	stats map[string]stats
	notes []string
}

// measureSize runs every variant reps times, round-robin, so a burst of load
// from the other workers on this machine hits all variants alike. A variant
// whose run takes longer than slow is not repeated.
func measureSize(ctx context.Context, s *sizeSetup, tools toolset, reps int, slow time.Duration, progress func(string)) (*sizeResult, error) {
	cmds := s.commands(tools)
	samples := map[string][]sample{}
	stopped := map[string]bool{}
	res := &sizeResult{setup: s, stats: map[string]stats{}}
	for rep := range reps {
		for _, v := range renderVariants {
			c, ok := cmds[v]
			if !ok || stopped[v] {
				continue
			}
			smp, err := runOnce(ctx, c)
			if err != nil {
				return nil, fmt.Errorf("%s at %d pairs: %w", v, s.n, err)
			}
			samples[v] = append(samples[v], smp)
			if smp.wall > slow && rep < reps-1 {
				stopped[v] = true
				res.notes = append(res.notes, fmt.Sprintf("%s: one run took %s wall (> %s), not repeated", v, smp.wall.Round(time.Second/10), slow))
			}
		}
		progress(fmt.Sprintf("%d pairs: repetition %d/%d done", s.n, rep+1, reps))
	}
	for v, ss := range samples {
		res.stats[v] = summarize(ss)
	}
	return res, nil
}

// startup runs meshbundle-postrender on empty input, without an AppMesh
// file (an AppMesh naming Services needs them in the input).
func startup(ctx context.Context, tools toolset, reps int) (stats, error) {
	var ss []sample
	for range reps {
		smp, err := runOnce(ctx, cmdSpec{path: tools.postrender})
		if err != nil {
			return stats{}, err
		}
		ss = append(ss, smp)
	}
	return summarize(ss), nil
}
