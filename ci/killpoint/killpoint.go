// Package killpoint SIGKILLs the real `meshbundle canary` CLI at a point of
// one of its steps read from the outside, and runs the same command again
// until it finishes, for the end-to-end tests of canary/e2e (what a kill
// leaves: files, history, objects) and ci/dataplane/e2e (what a kill does
// to requests). The points:
//
//   - Recorded: the step's AppMesh renamed into place (inotify, the file's
//     content naming the step), before its commit or its helm upgrade;
//   - Committed: the branch ref written (inotify), before the push
//     (GitOps) or before the helm upgrade (Helm with --repo);
//   - Upgrading: Helm's release Secret of the step (its manifest's AppMesh)
//     turning pending-upgrade: mid-upgrade;
//   - Waiting: the command printing that it waits for the cluster to apply
//     the step: mid-wait.
//
// A Mode is one way of running the CLI (Helm with --file, Helm with
// --repo, GitOps with --repo --push) with what its kills are read from and
// what they leave: after each kill, Mode.Left reads the state and says
// which point's window it left, the control that the kill landed where it
// was aimed (not before the command began or after it finished). No test
// seam in the binary: a kill lands within a millisecond or so of the event.
package killpoint

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/meshbundle/meshbundle/appmesh"
	"github.com/meshbundle/meshbundle/canary"
)

// Point is where in a step a run is killed.
type Point string

const (
	Recorded  Point = "recorded"  // the step written into the AppMesh file, not committed/upgraded
	Committed Point = "committed" // committed, not pushed (GitOps) or not upgraded (Helm with --repo)
	Upgrading Point = "upgrading" // the release pending-upgrade with the step
	Waiting   Point = "waiting"   // applied, waiting for the cluster
)

// Target is one kill: a point of one step of the command.
type Target struct {
	Point Point
	Step  canary.Step
}

func (k Target) String() string { return fmt.Sprintf("%s %q", k.Point, k.Step.Message) }

// CanaryKey names a step's canary section the way the command's progress
// lines do (canary.describe): "web v2 phase Pinning weight 0", or "none".
func CanaryKey(c *appmesh.Canary) string {
	if c == nil {
		return "none"
	}
	return fmt.Sprintf("%s %s phase %s weight %d", c.Target, c.Version, c.Phase, c.Weight)
}

// Watch starts watching for a point read from the cluster or the
// repository; it calls fire with the canary the step applies (CanaryKey)
// when known ("" when it cannot tell) and stops when done is closed.
type Watch func(t testing.TB, fire func(key string), done <-chan struct{})

// Mode is one way of running the canary CLI, with what the kills are read
// from and what they leave.
type Mode struct {
	Name string
	// Args are the mode's flags after `canary <op> <app> [op args]`.
	Args []string
	// File is the app's AppMesh file the CLI writes each step into.
	File string
	// History is the persistent timelines of the steps, each oldest first:
	// the commit messages, the descriptions of the release revisions that
	// did not fail, or both.
	History func(t testing.TB) [][]string
	// Points are the mode's kill points, in the order a step reaches them.
	Points []Point
	// Watch starts watching for the points other than Recorded and Waiting.
	Watch map[Point]Watch
	// Left says which point's window a kill during step left, or why none.
	Left func(t testing.TB, step canary.Step) (Point, string)
	// Settled checks what a finished command leaves besides the file,
	// the history and the objects (pushed and clean).
	Settled func(t testing.TB)
	// AfterKill runs after every kill, before the command is run again.
	AfterKill func(t testing.TB)
	// Reset puts the app back as the AppMesh file initial says (after a
	// clean promote), through the mode's own store: the file, a commit
	// (pushed in GitOps mode) and a helm upgrade in Helm mode.
	Reset func(t testing.TB, initial []byte)
}

// Steps is op's plan from the mode's AppMesh file.
func Steps(t testing.TB, m Mode, op canary.Request) []canary.Step {
	t.Helper()
	cur, err := appmesh.Load(m.File)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := canary.NewPlan(cur, op)
	if err != nil {
		t.Fatal(err)
	}
	return plan.Steps
}

// Targets are the kills of op's plan from the mode's AppMesh file: at
// step i (from 0) the points pick gives, in the order a step reaches
// them.
func Targets(t testing.TB, m Mode, op canary.Request, pick func(step int) []Point) []Target {
	t.Helper()
	var targets []Target
	for i, s := range Steps(t, m, op) {
		for _, p := range pick(i) {
			targets = append(targets, Target{Point: p, Step: s})
		}
	}
	return targets
}

// Every picks every point of the mode at every step.
func (m Mode) Every(int) []Point { return m.Points }

// KillEachStep runs args again and again, killing each run at the next
// of targets (in a step's order), until a run exits 0. It returns the
// kills that left the window aimed at and the ones that did not.
func KillEachStep(t testing.TB, m Mode, bin string, args []string, targets []Target) (int, []string) {
	t.Helper()
	hits, misses := 0, []string(nil)
	for run, next := 0, 0; ; run++ {
		if run > len(targets)+2 {
			t.Fatalf("%s did not finish in %d runs", args[1], run)
		}
		var target *Target
		if next < len(targets) {
			target = &targets[next]
		}
		res := RunKilledAt(t, m, bin, args, target)
		if !res.Killed() {
			if res.Code() != 0 {
				t.Fatalf("%s run %d: exit %d\n%s", args[1], run+1, res.Code(), res.Stderr)
			}
			for _, k := range targets[next:] {
				misses = append(misses, "not reached: "+k.String())
			}
			t.Logf("%s run %d finished:\n%s", args[1], run+1, res.Stderr)
			return hits, misses
		}
		got, why := m.Left(t, target.Step)
		if got == target.Point {
			hits++
			t.Logf("%s run %d killed at %s: %s\n%s", args[1], run+1, target, why, res.Stderr)
		} else {
			misses = append(misses, fmt.Sprintf("aimed at %s, left %s (%s)", target, got, why))
			t.Logf("%s run %d aimed at %s, the kill left %s: %s\n%s", args[1], run+1, target, got, why, res.Stderr)
		}
		next++
		// A kill that landed late, at a later point of the step, makes
		// the points in between unreachable: aim at the one after it.
		for i := next; i < len(targets) && targets[i].Step.Message == target.Step.Message; i++ {
			if targets[i].Point == got {
				next = i + 1
			}
		}
		m.AfterKill(t)
	}
}

// RunKilledAt runs the command and SIGKILLs it the moment it reaches
// target (nil: never).
func RunKilledAt(t testing.TB, m Mode, bin string, args []string, target *Target) Exited {
	t.Helper()
	done := make(chan struct{})
	defer close(done)
	fire := make(chan struct{}, 1)
	kill := func() {
		select {
		case fire <- struct{}{}:
		default:
		}
	}
	var onLine func(string)
	if target != nil {
		want := CanaryKey(target.Step.Config.Spec.Canary)
		switch target.Point {
		case Recorded:
			events := Written(t, m.File, done)
			go func() {
				for range events {
					// The file names the step: not the put-back of a
					// step a killed run wrote but did not commit.
					if am, err := appmesh.Load(m.File); err == nil && CanaryKey(am.Spec.Canary) == want {
						kill()
						return
					}
				}
			}()
		case Committed, Upgrading:
			m.Watch[target.Point](t, func(key string) {
				if key == "" || key == want {
					kill()
				}
			}, done)
		case Waiting:
			line := "waiting for the cluster to apply canary " + want
			onLine = func(l string) {
				if strings.TrimSpace(l) == line {
					kill()
				}
			}
		}
	}
	cmd, exit := Start(t, bin, onLine, args...)
	for {
		select {
		case <-fire:
			_ = cmd.Process.Signal(syscall.SIGKILL)
			fire = nil
		case res := <-exit:
			return res
		}
	}
}

// Exited is a finished canary process.
type Exited struct {
	Err    error
	Stderr string
}

// Code is the exit code (-1: it did not exit).
func (e Exited) Code() int {
	var ee *exec.ExitError
	if errors.As(e.Err, &ee) {
		return ee.ExitCode()
	}
	if e.Err != nil {
		return -1
	}
	return 0
}

// Killed says whether SIGKILL ended it.
func (e Exited) Killed() bool {
	var ee *exec.ExitError
	if !errors.As(e.Err, &ee) {
		return false
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
}

// Start starts `bin <args>` (the meshbundle binary) with Helm's
// directories of its own; onLine (may be nil) sees every stderr line as it
// comes.
func Start(t testing.TB, bin string, onLine func(string), args ...string) (*exec.Cmd, <-chan Exited) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+t.TempDir(), "HELM_CONFIG_HOME="+t.TempDir(), "HELM_DATA_HOME="+t.TempDir())
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan Exited, 1)
	go func() {
		var log strings.Builder
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			log.WriteString(sc.Text() + "\n")
			if onLine != nil {
				onLine(sc.Text())
			}
		}
		done <- Exited{Err: cmd.Wait(), Stderr: log.String()}
	}()
	return cmd, done
}

// Run runs `bin <args>` to its end.
func Run(t testing.TB, bin string, args ...string) Exited {
	t.Helper()
	_, done := Start(t, bin, nil, args...)
	return <-done
}
