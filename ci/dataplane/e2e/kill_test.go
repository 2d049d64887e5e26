package e2e

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/meshbundle/meshbundle/appmesh"
	"github.com/meshbundle/meshbundle/canary"
	"github.com/meshbundle/meshbundle/ci/dataplane"
	"github.com/meshbundle/meshbundle/ci/killpoint"
	"github.com/meshbundle/meshbundle/ci/testcluster"
)

// killedCommand is one command of TestKilledCommandsTraffic's sequence.
type killedCommand struct {
	name string         // how the log names it
	args []string       // `canary ...` before the mode's flags
	op   canary.Request // the request the CLI makes (for the kill targets)
	// want is the share of each responding version once it finished, and
	// share the smallest one that is not 0 (for the sample's size).
	want  map[string]float64
	share float64
}

// killedSequence is every canary command in one sequence on one app:
// start → 10 % → abort → start → 50 % → promote.
var killedSequence = []killedCommand{
	{"start", []string{"canary", "start", app, "--deployment", "web", "--version", "v2", "--image", newImage},
		canary.Request{Op: canary.OpStart, Target: "web", Version: "v2", Image: newImage}, map[string]float64{"stable": 100, "v2": 0}, 100},
	{"weight 10", []string{"canary", "weight", app, "10"}, canary.Request{Op: canary.OpWeight, Weight: 10}, map[string]float64{"stable": 90, "v2": 10}, 10},
	// Abort puts web back as before start: its pods carry no version label.
	{"abort", []string{"canary", "abort", app}, canary.Request{Op: canary.OpAbort}, map[string]float64{"": 100}, 100},
	{"start again", []string{"canary", "start", app, "--deployment", "web", "--version", "v2", "--image", newImage},
		canary.Request{Op: canary.OpStart, Target: "web", Version: "v2", Image: newImage}, map[string]float64{"stable": 100, "v2": 0}, 100},
	{"weight 50", []string{"canary", "weight", app, "50"}, canary.Request{Op: canary.OpWeight, Weight: 50}, map[string]float64{"stable": 50, "v2": 50}, 50},
	// Promote moves the stable Deployment to v2: its pods answer v2.
	{"promote", []string{"canary", "promote", app}, canary.Request{Op: canary.OpPromote}, map[string]float64{"v2": 100}, 100},
}

// TestKilledCommandsTraffic: every canary command (the real binary) is
// SIGKILLed in every one of its steps and run again until it exits 0,
// while a proxyless gRPC client sends requests the whole time: 0 failed,
// per command and mode, and afterwards the split is the command's. One app
// per mode runs killedSequence:
//
//   - Helm with --file and Helm with --repo: killed mid-upgrade (the
//     step's release Secret pending-upgrade; the cluster may run part of
//     the step) and mid-wait (the step applied, the command waiting for it
//     to be in effect), the points that leave the cluster mid-step;
//   - GitOps with --repo --push (the Argo CD stand-in applying the
//     remote's branch): killed committed-not-pushed and pushed-mid-wait
//     (the stand-in applies it while nobody waits).
//
// Step i of a command is killed at the mode's point i mod 2 (its first
// point at the first, third ... step, its second at the others); weight,
// one step, at both. Each kill is checked to have left the window aimed
// at (killpoint.Mode.Left): most must, or the 0 proves little. After a kill
// in Helm mode the killed command's lease is aged by its 15 s instead of
// waiting them (TestHelmKilledResumes in canary/e2e waits them).
// TestBrokenStepsFail and TestSlowPush's control show that this client
// counts the failures of a step that breaks make-before-break (Failed of
// the same dataplane.Result).
func TestKilledCommandsTraffic(t *testing.T) {
	c := testcluster.Shared(t)
	mb := testcluster.Build(t, "meshbundle")
	for _, mode := range []struct {
		name   string
		make   func(t *testing.T, store *canary.HelmStore) killpoint.Mode
		points []killpoint.Point // where steps are killed, by turns
	}{
		{"helm", helmFileMode, []killpoint.Point{killpoint.Upgrading, killpoint.Waiting}},
		{"helm-repo", func(t *testing.T, store *canary.HelmStore) killpoint.Mode { return killpoint.HelmRepo(t, store) },
			[]killpoint.Point{killpoint.Upgrading, killpoint.Waiting}},
		{"gitops", func(t *testing.T, store *canary.HelmStore) killpoint.Mode { return killpoint.GitOps(t, store) },
			[]killpoint.Point{killpoint.Committed, killpoint.Waiting}},
	} {
		t.Run(mode.name, func(t *testing.T) {
			began := time.Now()
			store, _, ns := install(t, c, webRoute(appmesh.RouteAPIIstio))
			m := mode.make(t, store)
			d := driver(t, c, ns, "web."+ns+".svc.cluster.local:80")
			measure(t, d, map[string]float64{"": 100}, 100)
			common := []string{"-n", ns, "--kubeconfig", c.Kubeconfig, "--timeout", "90s", "--settle", "2s", "--istiod-url", c.IstiodDebugURL()}
			var total dataplane.Result
			hits, misses := 0, []string(nil)
			for _, cmd := range killedSequence {
				targets := killpoint.Targets(t, m, cmd.op, func(step int) []killpoint.Point {
					if cmd.op.Op == canary.OpWeight {
						return mode.points
					}
					return mode.points[step%len(mode.points) : step%len(mode.points)+1]
				})
				steps, from := killpoint.Steps(t, m, cmd.op), m.History(t)
				stop := make(chan struct{})
				during := make(chan dataplane.Result)
				go func() { during <- d.RunWhile(context.Background(), stop) }()
				h, miss := killpoint.KillEachStep(t, m, mb, append(append(slices.Clone(cmd.args), m.Args...), common...), targets)
				close(stop)
				res := <-during
				total = total.Add(res)
				hits += h
				misses = append(misses, miss...)
				var aimed []string
				for _, k := range targets {
					aimed = append(aimed, k.String())
				}
				t.Logf("%s, %s: %d kills (%d left the window aimed at: %s); during the killed and resumed command: %v",
					mode.name, cmd.name, len(targets), h, strings.Join(aimed, ", "), res)
				if res.Failed > 0 || res.Requests == 0 {
					t.Errorf("%s, %s killed and run again: %v, want 0 failed", mode.name, cmd.name, res)
				}
				// Nothing lost, nothing twice: each timeline (commits,
				// revisions that did not fail) gained the plan's steps.
				var want []string
				for _, s := range steps {
					want = append(want, s.Message)
				}
				for i, now := range m.History(t) {
					got := now[len(from[i]):]
					for j := range got {
						got[j] = strings.TrimPrefix(strings.TrimPrefix(got[j], "commit: "), "revision: ")
					}
					if !slices.Equal(got, want) {
						t.Errorf("%s, %s: the history gained\n  %s\nwant one entry per step\n  %s", mode.name, cmd.name, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
					}
				}
				after := measure(t, d, cmd.want, cmd.share)
				t.Logf("%s, after %s: %s", mode.name, cmd.name, after.Summary(slices.Sorted(maps.Keys(cmd.want))...))
				m.Settled(t)
			}
			t.Logf("%s: %d kills landed in the window aimed at, %d did not (%s); requests during the whole sequence: %v; took %s",
				mode.name, hits, len(misses), strings.Join(misses, "; "), total.Summary(), time.Since(began).Round(time.Second))
			if hits == 0 || len(misses) > hits/3 {
				t.Errorf("%s: %d of %d kills missed their window", mode.name, len(misses), hits+len(misses))
			}
		})
	}
}

// helmFileMode is Helm mode with the team's AppMesh file: the applied
// AppMesh written to a file, as the CLI needs it with --release.
func helmFileMode(t *testing.T, store *canary.HelmStore) killpoint.Mode {
	am, err := store.Cluster.AppliedAppMesh(context.Background())
	if err != nil || am == nil {
		t.Fatalf("the applied AppMesh: %v", err)
	}
	doc, err := appmesh.Marshal(am)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "appmesh.yaml")
	if err := os.WriteFile(file, doc, 0o644); err != nil {
		t.Fatal(err)
	}
	return killpoint.HelmFile(store, file)
}

// TestKilledSlowPush: killed mid-wait while istiod is slow to push. With
// istiod's debounce at seconds (slowPush), `canary start`, `weight 10` and
// `abort` (Helm --file) are each SIGKILLed at every step the moment they
// say they wait for the cluster to apply it (the step applied, its push
// to the client still to come) and run again until they exit 0, requests
// running the whole time. A resumed run does not know which push carried
// the step (canary/effect.go): if it moved on before the client had the
// step, abort's removal of the copy would make requests fail, as in
// TestSlowPush's control. Want: 0 failed.
func TestKilledSlowPush(t *testing.T) {
	c := testcluster.Shared(t)
	ctx := context.Background()
	mb := testcluster.Build(t, "meshbundle")
	withSlowPush(t, c)
	store, _, ns := install(t, c, webRoute(appmesh.RouteAPIIstio))
	m := helmFileMode(t, store)
	d := driver(t, c, ns, "web."+ns+".svc.cluster.local:80")
	measure(t, d, map[string]float64{"": 100}, 100)
	common := []string{"-n", ns, "--kubeconfig", c.Kubeconfig, "--timeout", "90s", "--settle", "1m", "--istiod-url", c.IstiodDebugURL()}
	var all dataplane.Result
	for _, cmd := range killedSequence[:3] {
		targets := killpoint.Targets(t, m, cmd.op, func(int) []killpoint.Point { return []killpoint.Point{killpoint.Waiting} })
		stop := make(chan struct{})
		during := make(chan dataplane.Result)
		go func() { during <- d.RunWhile(ctx, stop) }()
		hits, misses := killpoint.KillEachStep(t, m, mb, append(append(slices.Clone(cmd.args), m.Args...), common...), targets)
		close(stop)
		res := <-during
		all = all.Add(res)
		t.Logf("slow push, %s: %d kills mid-wait (%d left the window aimed at; %s); during the killed and resumed command: %v",
			cmd.name, len(targets), hits, strings.Join(misses, "; "), res)
		if hits == 0 || len(misses) > hits/3 {
			t.Errorf("%s: %d of %d kills missed their window", cmd.name, len(misses), hits+len(misses))
		}
	}
	if all.Failed > 0 || all.Requests == 0 {
		t.Errorf("start → 10 %% → abort, killed mid-wait under a slow push and run again: %v, want 0 failed", all)
	}
	after := measure(t, d, map[string]float64{"": 100}, 100)
	t.Logf("after abort: %s", after.Summary(""))
}
