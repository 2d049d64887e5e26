package e2e

import (
	"bytes"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"

	"github.com/meshbundle/meshbundle/canary"
	"github.com/meshbundle/meshbundle/ci/killpoint"
	"github.com/meshbundle/meshbundle/ci/testcluster"
)

// This file SIGKILLs the real `meshbundle canary start`, `canary weight`,
// `canary abort` and `canary promote` at every point of every step
// (ci/killpoint: recorded, committed, upgrading, waiting, read from the
// outside), in Helm mode (--release --file), in Helm mode with the file in
// git (--release --repo: each step committed, then upgraded) and in GitOps
// mode (--repo --push, with the Argo CD stand-in applying the remote's
// branch), and runs the same command again after every kill until it
// exits 0.
//
// One command's runs walk the steps in order: the first run is killed at
// step 1's first point, the run after it at the next point, and so on, so
// a step is killed up to four times in a row before the command may move
// on. After each kill the test reads what the kill left and checks it is
// the window it aimed at (the control that the kill landed mid-step, not
// before the command began or after it finished); a late kill is reported
// as a miss. After the command's last run: exit 0, and the AppMesh file,
// the history (git log and the release's revisions that did not fail),
// the app's Deployments, VirtualServices and DestinationRules equal a
// clean run's of the same command on the same app, and the canary lease
// is free. After a kill in Helm mode the killed command's lease is aged
// by its 15 s (killpoint.ExpireLease) instead of waiting them;
// TestHelmKilledResumes waits them.

// recordOf is what a command leaves behind, compared with a clean run's.
type recordOf struct {
	file    []byte
	history []string // added by the command, timeline after timeline
	objects state
}

// killCmd is one command of a sequence.
type killCmd struct {
	op   canary.Request // the request the CLI makes (for the plan)
	args []string       // `canary ...` before the mode's flags
	kill bool           // kill it at every point of every step
}

// killSequences are the sequences TestKilledCommandsResume runs in every
// mode, each cleanly, then with kills. Every command of the first is
// killed; the second reaches promote the same way and kills only promote.
var killSequences = []struct {
	name string
	cmds []killCmd
}{
	{name: "start-weight-abort", cmds: []killCmd{
		{op: start, args: []string{"canary", "start", app, "--deployment", "web", "--version", "v2", "--image", newImage}, kill: true},
		{op: canary.Request{Op: canary.OpWeight, Weight: 10}, args: []string{"canary", "weight", app, "10"}, kill: true},
		{op: canary.Request{Op: canary.OpAbort}, args: []string{"canary", "abort", app}, kill: true},
	}},
	{name: "start-weight-promote", cmds: []killCmd{
		{op: start, args: []string{"canary", "start", app, "--deployment", "web", "--version", "v2", "--image", newImage}},
		{op: canary.Request{Op: canary.OpWeight, Weight: 10}, args: []string{"canary", "weight", app, "10"}},
		{op: canary.Request{Op: canary.OpPromote}, args: []string{"canary", "promote", app}, kill: true},
	}},
}

// TestKilledCommandsResume: the kills above during start, weight, abort
// and promote, in the three modes. Each mode runs every sequence of
// killSequences cleanly on its app, then the same with kills; after a
// clean promote the app is put back as before the sequence (the mode's
// store saves the AppMesh the sequence began with; the objects are
// checked to be as before) so the killed promote begins where the clean
// one did.
func TestKilledCommandsResume(t *testing.T) {
	c := testcluster.Shared(t)
	mb := buildCLI(t)
	for _, mk := range []func(t *testing.T, store *canary.HelmStore) killpoint.Mode{
		func(_ *testing.T, store *canary.HelmStore) killpoint.Mode {
			return killpoint.HelmFile(store, fileOf(store))
		},
		func(t *testing.T, store *canary.HelmStore) killpoint.Mode { return killpoint.HelmRepo(t, store) },
		func(t *testing.T, store *canary.HelmStore) killpoint.Mode { return killpoint.GitOps(t, store) },
	} {
		store, cl, ns := install(t, c)
		m := mk(t, store)
		t.Run(m.Name, func(t *testing.T) {
			common := []string{"-n", ns, "--kubeconfig", c.Kubeconfig, "--timeout", "90s", "--settle", "500ms"}
			for _, seq := range killSequences {
				began := time.Now()
				cmds := seq.cmds
				argv := func(i int) []string {
					return append(append(slices.Clone(cmds[i].args), m.Args...), common...)
				}
				before := snapshot(t, c, ns)
				initial, err := os.ReadFile(m.File)
				if err != nil {
					t.Fatal(err)
				}
				// The clean run: what each command leaves.
				var clean []recordOf
				for i := range cmds {
					from := m.History(t)
					if res := killpoint.Run(t, mb, argv(i)...); res.Code() != 0 {
						t.Fatalf("%s: clean %s: exit %d\n%s", seq.name, cmds[i].op.Op, res.Code(), res.Stderr)
					}
					m.Settled(t)
					clean = append(clean, recordOf{file: readFile(t, m.File), history: added(from, m.History(t)), objects: snapshot(t, c, ns)})
				}
				if last := clean[len(clean)-1]; !bytes.Equal(last.file, initial) {
					m.Reset(t, initial)
					m.Settled(t)
				}
				if got := readFile(t, m.File); !bytes.Equal(got, initial) {
					t.Fatalf("%s: after the clean run (and the reset) the file is\n%s\nwant as before\n%s", seq.name, got, initial)
				}
				testcluster.WaitFor(t, "the app's objects as before the clean run", func() bool { return sameObjects(snapshot(t, c, ns), before) })
				cleanTook := time.Since(began)

				// The same commands, killed.
				killedAt := time.Now()
				hits, misses := 0, []string{}
				for i, cmd := range cmds {
					from := m.History(t)
					if cmd.kill {
						h, miss := killpoint.KillEachStep(t, m, mb, argv(i), killpoint.Targets(t, m, cmd.op, m.Every))
						hits += h
						misses = append(misses, miss...)
					} else if res := killpoint.Run(t, mb, argv(i)...); res.Code() != 0 {
						t.Fatalf("%s: %s: exit %d\n%s", seq.name, cmd.op.Op, res.Code(), res.Stderr)
					}
					m.Settled(t)
					got := recordOf{file: readFile(t, m.File), history: added(from, m.History(t)), objects: snapshot(t, c, ns)}
					want := clean[i]
					if !bytes.Equal(got.file, want.file) {
						t.Errorf("%s: after %s: the AppMesh file\n%s\nwant (a clean run's)\n%s", seq.name, cmd.op.Op, got.file, want.file)
					}
					if !slices.Equal(got.history, want.history) {
						t.Errorf("%s: after %s: history\n  %s\nwant (a clean run's: one entry per step)\n  %s", seq.name, cmd.op.Op, strings.Join(got.history, "\n  "), strings.Join(want.history, "\n  "))
					}
					if !sameObjects(got.objects, want.objects) {
						t.Errorf("%s: after %s: the app's objects differ from a clean run's:\ngot  %v\nwant %v", seq.name, cmd.op.Op, got.objects.istio, want.objects.istio)
					}
					if holder := killpoint.LeaseHolder(t, cl); holder != "" {
						t.Errorf("%s: after %s: the canary lease is held by %q", seq.name, cmd.op.Op, holder)
					}
				}
				t.Logf("%s %s: %d kills landed in the window aimed at, %d did not (%s); clean run %s, killed run %s",
					m.Name, seq.name, hits, len(misses), strings.Join(misses, "; "), cleanTook.Round(time.Second), time.Since(killedAt).Round(time.Second))
				// Every point of every step is aimed at; a kill may land
				// late on a loaded machine, but most must land where aimed.
				if hits == 0 || len(misses) > hits/3 {
					t.Errorf("%s: %d of %d kills missed their window", seq.name, len(misses), hits+len(misses))
				}
				if t.Failed() {
					return
				}
			}
		})
	}
}

// added is what each timeline gained since from, one after the other.
func added(from, now [][]string) []string {
	var out []string
	for i := range now {
		out = append(out, now[i][len(from[i]):]...)
	}
	return out
}

// sameObjects: the same Deployments (specs) and Istio objects (specs).
func sameObjects(a, b state) bool {
	return equality.Semantic.DeepEqual(a.deployments, b.deployments) && maps.Equal(a.istio, b.istio)
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
