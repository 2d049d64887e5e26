package e2e

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"golang.org/x/sys/unix"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/releaseutil"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/meshbundle/meshbundle/appmesh"
	"github.com/meshbundle/meshbundle/canary"
	"github.com/meshbundle/meshbundle/ci/argocdstandin"
	"github.com/meshbundle/meshbundle/ci/testcluster"
	"github.com/meshbundle/meshbundle/renderer"
)

// This file SIGKILLs the real `meshbundle canary start`, `canary weight`,
// `canary abort` and `canary promote` at every point of every step, in Helm mode (--release --file), in Helm
// mode with the file in git (--release --repo: each step committed, then
// upgraded) and in GitOps mode (--repo --push, with the Argo CD stand-in
// applying the remote's branch), and runs the same command again after
// every kill until it exits 0. The points, read from the outside as in
// kill_test.go:
//
//   - recorded: the step's AppMesh renamed into place (inotify, the file's
//     content naming the step), before its commit or its helm upgrade;
//   - committed: the branch ref written (inotify), before the push
//     (GitOps) or before the helm upgrade (Helm with --repo);
//   - upgrading: Helm's release Secret of the step (its manifest's AppMesh)
//     turning pending-upgrade: mid-upgrade;
//   - waiting: the command printing that it waits for the cluster to apply
//     the step: mid-wait.
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
// is free.

// killPoint is where in a step a run is killed.
type killPoint string

const (
	killRecorded  killPoint = "recorded"  // the step written into the AppMesh file, not committed/upgraded
	killCommitted killPoint = "committed" // committed, not pushed (GitOps) or not upgraded (Helm with --repo)
	killUpgrading killPoint = "upgrading" // the release pending-upgrade with the step
	killWaiting   killPoint = "waiting"   // applied, waiting for the cluster
)

// killTarget is one kill: a point of one step of the command.
type killTarget struct {
	point killPoint
	step  canary.Step
}

func (k killTarget) String() string { return fmt.Sprintf("%s %q", k.point, k.step.Message) }

// canaryKey names a step's canary section the way the command's progress
// lines do (canary.describe): "web v2 phase Pinning weight 0", or "none".
func canaryKey(c *appmesh.Canary) string {
	if c == nil {
		return "none"
	}
	return fmt.Sprintf("%s %s phase %s weight %d", c.Target, c.Version, c.Phase, c.Weight)
}

// killMode is one way of running the canary CLI, with what the kills are
// read from and what they leave.
type killMode struct {
	name string
	// args are the mode's flags after `canary <op> <app> [op args]`.
	args []string
	// file is the app's AppMesh file the CLI writes each step into.
	file string
	// history is the persistent timelines of the steps, each oldest first:
	// the commit messages, the descriptions of the release revisions that
	// did not fail, or both.
	history func(t *testing.T) [][]string
	// points are the mode's kill points, in the order a step reaches them.
	points []killPoint
	// watch starts watching for the points other than recorded and
	// waiting; it calls fire with the canary the step applies (canaryKey)
	// when known ("" when it cannot tell) and stops when done is closed.
	watch map[killPoint]func(t *testing.T, fire func(key string), done <-chan struct{})
	// left says which point's window a kill during step left, or why none.
	left func(t *testing.T, step canary.Step) (killPoint, string)
	// settled checks what a finished command leaves besides the file,
	// the history and the objects (pushed and clean; the lease free).
	settled func(t *testing.T)
	// afterKill runs after every kill, before the command is run again.
	afterKill func(t *testing.T)
	// reset puts the app back as the AppMesh file initial says (after a
	// clean promote), through the mode's own store: the file, a commit
	// (pushed in GitOps mode) and a helm upgrade in Helm mode.
	reset func(t *testing.T, initial []byte)
}

// resetWith saves the AppMesh initial through the store st makes.
func resetWith(st func() canary.Store) func(t *testing.T, initial []byte) {
	return func(t *testing.T, initial []byte) {
		t.Helper()
		am, err := appmesh.Decode(initial)
		if err != nil {
			t.Fatal(err)
		}
		s := st()
		if _, err := s.Load(context.Background()); err != nil {
			t.Fatalf("reset: %v", err)
		}
		if _, err := s.Save(context.Background(), am, "test: the app as before the sequence"); err != nil {
			t.Fatalf("reset: %v", err)
		}
	}
}

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
	for _, mk := range []func(t *testing.T, c *testcluster.Cluster) (killMode, *canary.Cluster, string){helmKillMode, helmRepoKillMode, gitOpsKillMode} {
		m, cl, ns := mk(t, c)
		t.Run(m.name, func(t *testing.T) {
			common := []string{"-n", ns, "--kubeconfig", c.Kubeconfig, "--timeout", "90s", "--settle", "500ms"}
			for _, seq := range killSequences {
				began := time.Now()
				cmds := seq.cmds
				argv := func(i int) []string {
					return append(append(slices.Clone(cmds[i].args), m.args...), common...)
				}
				before := snapshot(t, c, ns)
				initial, err := os.ReadFile(m.file)
				if err != nil {
					t.Fatal(err)
				}
				// The clean run: what each command leaves.
				var clean []recordOf
				for i := range cmds {
					from := m.history(t)
					if res := runCanary(t, mb, argv(i)...); res.code() != 0 {
						t.Fatalf("%s: clean %s: exit %d\n%s", seq.name, cmds[i].op.Op, res.code(), res.stderr)
					}
					m.settled(t)
					clean = append(clean, recordOf{file: readFile(t, m.file), history: added(from, m.history(t)), objects: snapshot(t, c, ns)})
				}
				if last := clean[len(clean)-1]; !bytes.Equal(last.file, initial) {
					m.reset(t, initial)
					m.settled(t)
				}
				if got := readFile(t, m.file); !bytes.Equal(got, initial) {
					t.Fatalf("%s: after the clean run (and the reset) the file is\n%s\nwant as before\n%s", seq.name, got, initial)
				}
				testcluster.WaitFor(t, "the app's objects as before the clean run", func() bool { return sameObjects(snapshot(t, c, ns), before) })
				cleanTook := time.Since(began)

				// The same commands, killed.
				killedAt := time.Now()
				hits, misses := 0, []string{}
				for i, cmd := range cmds {
					from := m.history(t)
					if cmd.kill {
						h, miss := killEachStep(t, m, mb, argv(i), cmd.op)
						hits += h
						misses = append(misses, miss...)
					} else if res := runCanary(t, mb, argv(i)...); res.code() != 0 {
						t.Fatalf("%s: %s: exit %d\n%s", seq.name, cmd.op.Op, res.code(), res.stderr)
					}
					m.settled(t)
					got := recordOf{file: readFile(t, m.file), history: added(from, m.history(t)), objects: snapshot(t, c, ns)}
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
					lease, err := cl.Client.CoordinationV1().Leases(ns).Get(context.Background(), canary.LeaseName(app), metav1.GetOptions{})
					if err == nil && ptr.Deref(lease.Spec.HolderIdentity, "") != "" {
						t.Errorf("%s: after %s: the canary lease is held by %q", seq.name, cmd.op.Op, *lease.Spec.HolderIdentity)
					}
				}
				t.Logf("%s %s: %d kills landed in the window aimed at, %d did not (%s); clean run %s, killed run %s",
					m.name, seq.name, hits, len(misses), strings.Join(misses, "; "), cleanTook.Round(time.Second), time.Since(killedAt).Round(time.Second))
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

// killEachStep runs args (the command op) again and again, killing each
// run at the next target (every point of every step of op's plan, in
// order), until a run exits 0. It returns the kills that left the window
// aimed at and the ones that did not.
func killEachStep(t *testing.T, m killMode, mb string, args []string, op canary.Request) (int, []string) {
	t.Helper()
	cur, err := appmesh.Load(m.file)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := canary.NewPlan(cur, op)
	if err != nil {
		t.Fatal(err)
	}
	var targets []killTarget
	for _, s := range plan.Steps {
		for _, p := range m.points {
			targets = append(targets, killTarget{point: p, step: s})
		}
	}
	hits, misses := 0, []string(nil)
	for run, next := 0, 0; ; run++ {
		if run > len(targets)+2 {
			t.Fatalf("%s did not finish in %d runs", op.Op, run)
		}
		var target *killTarget
		if next < len(targets) {
			target = &targets[next]
		}
		res := runKilledAt(t, m, mb, args, target)
		if !res.killed() {
			if res.code() != 0 {
				t.Fatalf("%s run %d: exit %d\n%s", op.Op, run+1, res.code(), res.stderr)
			}
			for _, k := range targets[next:] {
				misses = append(misses, "not reached: "+k.String())
			}
			t.Logf("%s run %d finished:\n%s", op.Op, run+1, res.stderr)
			return hits, misses
		}
		got, why := m.left(t, target.step)
		if got == target.point {
			hits++
			t.Logf("%s run %d killed at %s: %s", op.Op, run+1, target, why)
		} else {
			misses = append(misses, fmt.Sprintf("aimed at %s, left %s (%s)", target, got, why))
			t.Logf("%s run %d aimed at %s, the kill left %s: %s\n%s", op.Op, run+1, target, got, why, res.stderr)
		}
		next++
		// A kill that landed late, at a later point of the step, makes
		// the points in between unreachable: aim at the one after it.
		for i := next; i < len(targets) && targets[i].step.Message == target.step.Message; i++ {
			if targets[i].point == got {
				next = i + 1
			}
		}
		m.afterKill(t)
	}
}

// runKilledAt runs the command and SIGKILLs it the moment it reaches
// target (nil: never).
func runKilledAt(t *testing.T, m killMode, mb string, args []string, target *killTarget) exited {
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
		switch target.point {
		case killRecorded:
			want := canaryKey(target.step.Config.Spec.Canary)
			events := inotifyEvents(t, filepath.Dir(m.file), filepath.Base(m.file), done)
			go func() {
				for range events {
					// The file names the step: not the put-back of a
					// step a killed run wrote but did not commit.
					if am, err := appmesh.Load(m.file); err == nil && canaryKey(am.Spec.Canary) == want {
						kill()
						return
					}
				}
			}()
		case killCommitted, killUpgrading:
			want := canaryKey(target.step.Config.Spec.Canary)
			m.watch[target.point](t, func(key string) {
				if key == "" || key == want {
					kill()
				}
			}, done)
		case killWaiting:
			want := "waiting for the cluster to apply canary " + canaryKey(target.step.Config.Spec.Canary)
			onLine = func(line string) {
				if strings.TrimSpace(line) == want {
					kill()
				}
			}
		}
	}
	cmd, exit := startCanary(t, mb, onLine, args...)
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

// inotifyEvents sends (without blocking) every time a file named name in
// dir is renamed into place or written, until done is closed.
func inotifyEvents(t *testing.T, dir, name string, done <-chan struct{}) <-chan struct{} {
	t.Helper()
	return watchEvents(t, dir, name, unix.IN_MOVED_TO|unix.IN_CLOSE_WRITE, done)
}

// watchEvents sends (without blocking) every time inotify reports one of
// mask's events for a file named name in dir, until done is closed; the
// channel is closed when the watch ends.
func watchEvents(t *testing.T, dir, name string, mask uint32, done <-chan struct{}) <-chan struct{} {
	t.Helper()
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := unix.InotifyAddWatch(fd, dir, mask); err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fd), "inotify") // non-blocking: Close ends a Read
	go func() {
		<-done
		f.Close()
	}()
	out := make(chan struct{}, 1)
	go func() {
		defer close(out)
		buf := make([]byte, 64*1024)
		for {
			n, err := f.Read(buf)
			if err != nil {
				return
			}
			for off := 0; off+unix.SizeofInotifyEvent <= n; {
				ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
				got := strings.TrimRight(string(buf[off+unix.SizeofInotifyEvent:off+unix.SizeofInotifyEvent+int(ev.Len)]), "\x00")
				off += unix.SizeofInotifyEvent + int(ev.Len)
				if got == name {
					select {
					case out <- struct{}{}:
					default:
					}
				}
			}
		}
	}()
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

// expireLease ages the app's canary lease, held by a killed command that
// can no longer renew it, by its duration: the next command takes it over
// at once, as it would after waiting the 15 s (waitLeaseStale waits them
// in kill_test.go; here that would be 15 s per kill).
func expireLease(t *testing.T, cl *canary.Cluster) {
	t.Helper()
	ctx := context.Background()
	l, err := cl.Client.CoordinationV1().Leases(cl.Namespace).Get(ctx, canary.LeaseName(app), metav1.GetOptions{})
	if err != nil || ptr.Deref(l.Spec.HolderIdentity, "") == "" || l.Spec.RenewTime == nil {
		return
	}
	aged := metav1.NewMicroTime(time.Now().Add(-time.Duration(ptr.Deref(l.Spec.LeaseDurationSeconds, 0))*time.Second - time.Second))
	l.Spec.RenewTime = &aged
	if _, err := cl.Client.CoordinationV1().Leases(cl.Namespace).Update(ctx, l, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// helmRelease decodes the release a Helm storage Secret holds (the
// driver's encoding: base64 of gzipped JSON).
func helmRelease(s *corev1.Secret) (*release.Release, error) {
	raw, err := base64.StdEncoding.DecodeString(string(s.Data["release"]))
	if err != nil {
		return nil, err
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	data, err := io.ReadAll(zr)
	if err != nil {
		return nil, err
	}
	var rel release.Release
	return &rel, json.Unmarshal(data, &rel)
}

// releaseCanary is the canary (canaryKey) in the AppMesh of a release's
// state ConfigMap: a pending revision's description is Helm's "Preparing
// upgrade", not the step's.
func releaseCanary(rel *release.Release) string {
	for _, doc := range releaseutil.SplitManifests(rel.Manifest) {
		var cm corev1.ConfigMap
		if err := sigsyaml.Unmarshal([]byte(doc), &cm); err != nil || cm.Kind != "ConfigMap" || cm.Name != renderer.StateConfigMapName(app) {
			continue
		}
		if am, err := appmesh.Decode([]byte(cm.Data[renderer.StateKey])); err == nil {
			return canaryKey(am.Spec.Canary)
		}
	}
	return "no AppMesh"
}

// watchUpgrades fires with the canary of every release revision of the
// app turning pending-upgrade in ns.
func watchUpgrades(cl *canary.Cluster) func(t *testing.T, fire func(string), done <-chan struct{}) {
	return func(t *testing.T, fire func(string), done <-chan struct{}) {
		ctx, cancel := context.WithCancel(context.Background())
		w, err := cl.Client.CoreV1().Secrets(cl.Namespace).Watch(ctx, metav1.ListOptions{LabelSelector: "owner=helm,name=" + app + ",status=" + string(release.StatusPendingUpgrade)})
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		go func() {
			<-done
			cancel()
		}()
		go func() {
			for ev := range w.ResultChan() {
				if s, ok := ev.Object.(*corev1.Secret); ok {
					if rel, err := helmRelease(s); err == nil {
						fire(releaseCanary(rel))
					}
				}
			}
		}()
	}
}

// watchCommits fires (with "": the ref names no step; left checks it was
// the step's commit) every time the branch ref of the working copy at dir
// is written.
func watchCommits(dir string, branch plumbing.ReferenceName) func(t *testing.T, fire func(string), done <-chan struct{}) {
	return func(t *testing.T, fire func(string), done <-chan struct{}) {
		events := inotifyEvents(t, filepath.Join(dir, ".git", filepath.Dir(branch.String())), filepath.Base(branch.String()), done)
		go func() {
			for range events {
				fire("")
			}
		}()
	}
}

// releaseState says what the release's newest revision runs.
type releaseState struct {
	pending  bool   // pending-upgrade, else deployed
	canary   string // its AppMesh's canary (canaryKey)
	message  string // its description (a deployed step's message)
	describe string
}

func newestRelease(t *testing.T, store *canary.HelmStore) releaseState {
	t.Helper()
	rs := revisions(t, store)
	last := rs[len(rs)-1]
	return releaseState{pending: last.Info.Status == release.StatusPendingUpgrade, canary: releaseCanary(last), message: last.Info.Description,
		describe: fmt.Sprintf("newest revision %d %s %q", last.Version, last.Info.Status, last.Info.Description)}
}

// helmHistory is the descriptions of the release's revisions that did not
// fail (a killed upgrade's revision is marked failed), oldest first.
func helmHistory(store *canary.HelmStore) func(t *testing.T) []string {
	return func(t *testing.T) []string {
		t.Helper()
		var out []string
		for _, r := range revisions(t, store) {
			if r.Info.Status != release.StatusFailed {
				out = append(out, "revision: "+r.Info.Description)
			}
		}
		return out
	}
}

// helmKillMode: Helm mode with the team's AppMesh file (--release --file).
func helmKillMode(t *testing.T, c *testcluster.Cluster) (killMode, *canary.Cluster, string) {
	store, cl, ns := install(t, c)
	file := fileOf(store)
	m := killMode{name: "helm", file: file, args: []string{"--release", app, "--file", file},
		points: []killPoint{killRecorded, killUpgrading, killWaiting},
		watch:  map[killPoint]func(*testing.T, func(string), <-chan struct{}){killUpgrading: watchUpgrades(cl)}}
	m.history = func(t *testing.T) [][]string { return [][]string{helmHistory(store)(t)} }
	m.left = func(t *testing.T, step canary.Step) (killPoint, string) {
		rel := newestRelease(t, store)
		am, err := appmesh.Load(file)
		if err != nil {
			t.Fatal(err)
		}
		desc := fmt.Sprintf("file at canary %s, %s", canaryKey(am.Spec.Canary), rel.describe)
		key := canaryKey(step.Config.Spec.Canary)
		switch {
		case rel.pending && rel.canary == key:
			return killUpgrading, desc
		case !rel.pending && rel.message == step.Message:
			return killWaiting, desc
		case !rel.pending && canaryKey(am.Spec.Canary) == key:
			return killRecorded, desc
		}
		return "nowhere", desc
	}
	m.settled = func(t *testing.T) {}
	m.afterKill = func(t *testing.T) { expireLease(t, cl) }
	m.reset = resetWith(func() canary.Store {
		return &canary.HelmStore{Config: store.Config, Release: app, Cluster: cl, Timeout: time.Minute, Source: &canary.FileStore{Path: file, App: app}}
	})
	return m, cl, ns
}

// gitState says where the working copy is.
type gitState struct {
	clean, pushed bool
	head          string // HEAD's commit message
	describe      string
}

func workingCopy(t *testing.T, repo *git.Repository, origin string, branch plumbing.ReferenceName) gitState {
	t.Helper()
	head, err := repo.Head()
	if err != nil {
		t.Fatalf("after the kill HEAD does not resolve: %v", err)
	}
	commit, err := repo.CommitObject(head.Hash())
	if err != nil {
		t.Fatal(err)
	}
	wt, _ := repo.Worktree()
	st, err := wt.Status()
	if err != nil {
		t.Fatal(err)
	}
	g := gitState{clean: st.IsClean(), pushed: origin != "" && remoteHash(origin, branch) == head.Hash(), head: strings.TrimSpace(commit.Message)}
	g.describe = fmt.Sprintf("HEAD %q, pushed %t, git status %q", g.head, g.pushed, strings.TrimSpace(st.String()))
	return g
}

// helmRepoKillMode: Helm mode with the AppMesh file in a git working copy
// (--release --repo): every step is committed there, then upgraded.
func helmRepoKillMode(t *testing.T, c *testcluster.Cluster) (killMode, *canary.Cluster, string) {
	store, cl, ns := install(t, c)
	dir, _, repo, branch := gitOpsRepo(t, cl)
	m := killMode{name: "helm-repo", file: filepath.Join(dir, "appmesh.yaml"), args: []string{"--release", app, "--repo", dir},
		points: []killPoint{killRecorded, killCommitted, killUpgrading, killWaiting},
		watch:  map[killPoint]func(*testing.T, func(string), <-chan struct{}){killCommitted: watchCommits(dir, branch), killUpgrading: watchUpgrades(cl)}}
	m.history = func(t *testing.T) [][]string {
		var commits []string
		for _, msg := range commitLog(t, repo) {
			commits = append(commits, "commit: "+msg)
		}
		return [][]string{commits, helmHistory(store)(t)}
	}
	m.left = func(t *testing.T, step canary.Step) (killPoint, string) {
		rel, wc := newestRelease(t, store), workingCopy(t, repo, "", branch)
		desc := wc.describe + ", " + rel.describe
		key := canaryKey(step.Config.Spec.Canary)
		switch {
		case rel.pending && rel.canary == key && wc.clean && wc.head == step.Message:
			return killUpgrading, desc
		case !rel.pending && rel.message == step.Message && wc.clean && wc.head == step.Message:
			return killWaiting, desc
		case !rel.pending && rel.message != step.Message && wc.clean && wc.head == step.Message:
			return killCommitted, desc
		case !rel.pending && !wc.clean && wc.head != step.Message:
			return killRecorded, desc
		}
		return "nowhere", desc
	}
	m.settled = func(t *testing.T) {
		if wc := workingCopy(t, repo, "", branch); !wc.clean {
			t.Errorf("working copy: %s", wc.describe)
		}
	}
	m.afterKill = func(t *testing.T) { expireLease(t, cl) }
	m.reset = resetWith(func() canary.Store {
		return &canary.HelmStore{Config: store.Config, Release: app, Cluster: cl, Timeout: time.Minute, Source: &canary.GitStore{Dir: dir, App: app}}
	})
	return m, cl, ns
}

// gitOpsKillMode: GitOps mode with a remote (--repo --push); the Argo CD
// stand-in applies the remote's branch.
func gitOpsKillMode(t *testing.T, c *testcluster.Cluster) (killMode, *canary.Cluster, string) {
	store, cl, ns := install(t, c)
	dir, origin, repo, branch := gitOpsRepo(t, cl)
	argo, err := argocdstandin.Start(store, argocdstandin.Branch(origin, branch, "appmesh.yaml"), 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := argo.Stop(); err != nil {
			t.Error(err)
		}
	})
	m := killMode{name: "gitops", file: filepath.Join(dir, "appmesh.yaml"), args: []string{"--repo", dir, "--push"},
		points: []killPoint{killRecorded, killCommitted, killWaiting},
		watch:  map[killPoint]func(*testing.T, func(string), <-chan struct{}){killCommitted: watchCommits(dir, branch)}}
	m.history = func(t *testing.T) [][]string { return [][]string{commitLog(t, repo)} }
	m.left = func(t *testing.T, step canary.Step) (killPoint, string) {
		wc := workingCopy(t, repo, origin, branch)
		switch {
		case !wc.clean && wc.head != step.Message:
			return killRecorded, wc.describe
		case wc.clean && wc.head == step.Message && !wc.pushed:
			return killCommitted, wc.describe
		case wc.clean && wc.head == step.Message && wc.pushed:
			return killWaiting, wc.describe
		}
		return "nowhere", wc.describe
	}
	m.settled = func(t *testing.T) {
		if wc := workingCopy(t, repo, origin, branch); !wc.clean || !wc.pushed {
			t.Errorf("working copy: %s; want clean and pushed", wc.describe)
		}
		if err := argo.Err(); err != nil {
			t.Fatal(err)
		}
	}
	m.afterKill = func(t *testing.T) {}
	m.reset = resetWith(func() canary.Store { return &canary.GitStore{Dir: dir, App: app, Push: true} })
	return m, cl, ns
}

// gitOpsRepo commits the app's applied AppMesh (appmesh.yaml) in a fresh
// working copy with a bare remote (origin), pushed; it returns both
// directories, the working copy's repository and its branch.
func gitOpsRepo(t *testing.T, cl *canary.Cluster) (string, string, *git.Repository, plumbing.ReferenceName) {
	t.Helper()
	origin := t.TempDir()
	if _, err := git.PlainInit(origin, true); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	repo, err := git.PlainInit(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	applied, err := cl.AppliedAppMesh(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	doc, err := appmesh.Marshal(applied)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "appmesh.yaml"), doc, 0o644); err != nil {
		t.Fatal(err)
	}
	wt, _ := repo.Worktree()
	if _, err := wt.Add("appmesh.yaml"); err != nil {
		t.Fatal(err)
	}
	if _, err := wt.Commit(app, &git.CommitOptions{Author: &object.Signature{Name: "t", Email: "t@example.com", When: time.Now()}}); err != nil {
		t.Fatal(err)
	}
	if _, err := repo.CreateRemote(&config.RemoteConfig{Name: "origin", URLs: []string{origin}}); err != nil {
		t.Fatal(err)
	}
	if err := repo.Push(&git.PushOptions{}); err != nil {
		t.Fatal(err)
	}
	head, err := repo.Head()
	if err != nil {
		t.Fatal(err)
	}
	return dir, origin, repo, head.Name()
}

// remoteHash is the branch's commit in the repository at dir (zero when
// unreadable).
func remoteHash(dir string, branch plumbing.ReferenceName) plumbing.Hash {
	r, err := git.PlainOpen(dir)
	if err != nil {
		return plumbing.ZeroHash
	}
	ref, err := r.Reference(branch, true)
	if err != nil {
		return plumbing.ZeroHash
	}
	return ref.Hash()
}

// commitLog is the messages of HEAD's history, oldest first.
func commitLog(t *testing.T, repo *git.Repository) []string {
	t.Helper()
	iter, err := repo.Log(&git.LogOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var msgs []string
	_ = iter.ForEach(func(c *object.Commit) error {
		msgs = append(msgs, strings.TrimSpace(c.Message))
		return nil
	})
	slices.Reverse(msgs)
	return msgs
}
