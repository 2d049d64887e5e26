// Command bench is `make bench`: it measures meshbundle side by side with
// what users would pick instead, in one run, and writes BENCHMARKS.md.
//
//   - post-render cost: synthetic charts (ci/bench/chartgen) of N
//     Deployment+Service pairs rendered by the real helm CLI alone, through
//     meshbundle-postrender (every filter on), through kustomize and through
//     yq doing the subset of edits they can; CPU (user+sys from the child's
//     rusage), wall time, peak RSS; medians of -reps runs, round-robin;
//   - meshbundle-postrender's start-up on empty input;
//   - alias cost: Istio's own config generation, from renderer/meshcheck's
//     TestAliasCost (run and parsed, not re-implemented);
//   - install: `meshbundle install` against `istioctl install` with the same
//     IstioOperator, each on a fresh local control plane, and the re-runs;
//   - the renderer's Go micro-benchmarks (go test -bench ./renderer/).
//
// Usage (from the repository root; tools from ci/tools.sh and ci/bench/tools.sh):
//
//	go run ./ci/bench [-sizes 10,100,500,1000,2000,5000] [-reps 5] [-skip install,alias,micro] [-out BENCHMARKS.md]
//
// BENCH_SIZES, BENCH_REPS and BENCH_SKIP set the same as the flags.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/meshbundle/meshbundle/ci/netns"
	"github.com/meshbundle/meshbundle/ci/testcluster"
)

// toolset is every binary the benchmark runs.
type toolset struct {
	helm, kustomize, yq, istioctl string // from ci/tools.sh, ci/bench/tools.sh
	postrender, meshbundle        string // built from this tree by the driver
	argocd                        bool   // meshbundle has the argocd generate command
}

func main() {
	// The bench's clusters and every process it measures run in a network
	// namespace of their own: nothing they send leaves the machine.
	netns.Enter()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func run() error {
	defReps, _ := strconv.Atoi(envOr("BENCH_REPS", "5"))
	sizesFlag := flag.String("sizes", envOr("BENCH_SIZES", "10,100,500,1000,2000,5000"), "chart sizes (Deployment+Service pairs), comma separated")
	reps := flag.Int("reps", defReps, "repetitions per variant and size (medians are reported)")
	skip := flag.String("skip", envOr("BENCH_SKIP", ""), "parts to leave out, comma separated: render, wide, install, alias, micro")
	kustomizeMax := flag.Int("kustomize-max", 2000, "largest size kustomize runs at (it grows super-linearly)")
	slow := flag.Duration("slow", 30*time.Second, "a variant whose run takes longer is not repeated at that size")
	installReps := flag.Int("install-reps", 3, "fresh-cluster installs per tool (alternating)")
	out := flag.String("out", "BENCHMARKS.md", "report file")
	flag.Parse()
	sizes, err := parseSizes(*sizesFlag)
	if err != nil {
		return err
	}
	if *reps < 1 {
		return fmt.Errorf("-reps %d: need at least 1", *reps)
	}
	skipped := map[string]bool{}
	for _, s := range strings.Split(*skip, ",") {
		if s = strings.TrimSpace(s); s != "" {
			skipped[s] = true
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	began := time.Now()
	rep := &report{sizes: sizes, reps: *reps, kustomizeMax: *kustomizeMax, startMachine: readMachine()}
	progress := func(msg string) {
		fmt.Fprintf(os.Stderr, "bench [%s]: %s\n", time.Since(began).Round(time.Second), msg)
	}

	work, err := os.MkdirTemp("", "meshbundle-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	tools, err := findTools(ctx, work, !skipped["render"], !skipped["install"], progress)
	if err != nil {
		return err
	}
	rep.versions = toolVersions(ctx, tools)

	if !skipped["render"] {
		if rep.startup, err = startup(ctx, tools, 20); err != nil {
			return fmt.Errorf("start-up: %w", err)
		}
		for _, n := range sizes {
			s, err := setupSize(work, n, tools, *kustomizeMax)
			if err != nil {
				return err
			}
			progress(fmt.Sprintf("%d pairs: checking every tool's output", n))
			if err := s.check(ctx, tools); err != nil {
				return err
			}
			s.memLimit = int64(20e6) + 3*s.inputBytes - rep.startup.maxRSS
			r, err := measureSize(ctx, s, tools, *reps, *slow, progress)
			if err != nil {
				return err
			}
			rep.render = append(rep.render, r)
		}
		if !tools.argocd {
			rep.argocdNotMeasured = "not measured: generate not built yet (`meshbundle argocd generate` does not exist in this tree)"
		}
	}
	if !skipped["render"] && !skipped["wide"] {
		for _, c := range wideCases {
			r, err := measureWide(ctx, work, c, tools, *reps, progress)
			if err != nil {
				return err
			}
			rep.wide = append(rep.wide, r)
		}
	}
	if !skipped["alias"] {
		progress("alias cost: go test -run TestAliasCost ./renderer/meshcheck")
		rep.alias, rep.aliasErr = aliasCost(ctx)
	}
	if !skipped["install"] {
		rep.install = measureInstall(ctx, tools, *installReps, progress)
	}
	if !skipped["micro"] {
		progress("renderer micro-benchmarks")
		rep.micro, rep.microErr = microBench(ctx)
	}
	rep.endMachine = readMachine()
	rep.duration = time.Since(began)
	if err := os.WriteFile(*out, []byte(rep.markdown()), 0o644); err != nil {
		return err
	}
	progress("wrote " + *out)
	return nil
}

func parseSizes(s string) ([]int, error) {
	var sizes []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("-sizes %q: %q is not a positive number of pairs", s, f)
		}
		sizes = append(sizes, n)
	}
	if len(sizes) == 0 {
		return nil, fmt.Errorf("-sizes %q: no size given", s)
	}
	return sizes, nil
}

// findTools locates the prebuilt tools the parts that run need (kustomize
// and yq only for render, istioctl only for install) and builds meshbundle's
// own binaries from this tree (the same flags as `make build`).
func findTools(ctx context.Context, work string, render, install bool, progress func(string)) (toolset, error) {
	var t toolset
	var err error
	need := map[string]*string{"helm": &t.helm}
	if render {
		need["kustomize"], need["yq"] = &t.kustomize, &t.yq
	}
	if install {
		need["istioctl"] = &t.istioctl
	}
	for name, dst := range need {
		if *dst, err = testcluster.Bin(name); err != nil {
			return t, fmt.Errorf("%w (kustomize, yq, istioctl: ci/bench/tools.sh)", err)
		}
	}
	root, err := testcluster.RepoRoot()
	if err != nil {
		return t, err
	}
	progress("building meshbundle and meshbundle-postrender")
	bin := filepath.Join(work, "bin") + "/"
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, "./cmd/meshbundle", "./cmd/meshbundle-postrender", "./ci/bench/runner")
	cmd.Dir = root
	// Static, as the images ship them (ci/images) and `make build` builds
	// them: a cgo build maps the C library too, ~1.5 MB more RSS.
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return t, fmt.Errorf("build meshbundle: %w\n%s", err, out)
	}
	t.meshbundle, t.postrender = bin+"meshbundle", bin+"meshbundle-postrender"
	runnerPath = bin + "runner"
	// The Argo CD plugin is measured when this tree has it.
	out, err := exec.CommandContext(ctx, t.meshbundle, "argocd", "generate", "--help").CombinedOutput()
	t.argocd = err == nil && strings.Contains(string(out), "meshbundle argocd generate [flags]")
	return t, nil
}

// toolVersions records what was measured.
func toolVersions(ctx context.Context, t toolset) map[string]string {
	v := map[string]string{}
	for name, args := range map[string][]string{
		"helm": {t.helm, "version", "--short"}, "kustomize": {t.kustomize, "version"},
		"yq": {t.yq, "--version"}, "istioctl": {t.istioctl, "version", "--remote=false", "--short"},
	} {
		if args[0] == "" {
			v[name] = "not used in this run"
			continue
		}
		out, err := exec.CommandContext(ctx, args[0], args[1:]...).Output()
		if err != nil {
			v[name] = "unknown (" + err.Error() + ")"
			continue
		}
		v[name] = strings.TrimSpace(string(out))
	}
	return v
}
