package canary

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/meshbundle/meshbundle/appmesh"
	"github.com/meshbundle/meshbundle/failure"
)

// Store is where the AppMesh of the app lives: a git working copy (GitOps
// mode) or a Helm release (helm mode).
type Store interface {
	// Load returns the current AppMesh (the committed file, or the one the
	// release applied).
	Load(ctx context.Context) (*appmesh.AppMesh, error)
	// Check renders/validates a planned AppMesh without changing anything;
	// an error is bad input.
	Check(ctx context.Context, am *appmesh.AppMesh) error
	// Save makes one change: a git commit or a helm upgrade, with message as
	// the commit message or release description. It returns a reference
	// (commit hash or release revision).
	Save(ctx context.Context, am *appmesh.AppMesh, message string) (string, error)
}

// Options control a run.
type Options struct {
	// Wait for each step's conditions before the next step. Without it
	// (--no-wait) a run applies one step when the previous one's conditions
	// already hold, and the command is run again to continue.
	Wait bool
	// Timeout bounds each wait.
	Timeout time.Duration
	// Progress receives one line per step and wait (stderr).
	Progress io.Writer
	// Interval between cluster polls. Default 500ms.
	Interval time.Duration
	// Settle is the fallback of the gate after each step (effect.go): when
	// istiod cannot tell whether the app's proxies acknowledged the step
	// (no Cluster.Istiod, istiod unreachable, no proxy of the namespace
	// connected), the step is given this long for istiod to push it before
	// the next step, which may remove what this one moved traffic away
	// from. 0: DefaultSettle; negative: none.
	Settle time.Duration
	// NoRenderedCheck skips the gate's first check, that the routing
	// objects of the step's render arrived (effect.go). A test hook only:
	// the negative control of ci/dataplane/e2e TestGitOpsSyncOrder; the
	// CLI never sets it.
	NoRenderedCheck bool
}

// DefaultSettle is Options.Settle's default: istiod debounces a change for
// 100 ms (up to 10 s under load, PILOT_DEBOUNCE_MAX) before it pushes.
const DefaultSettle = 5 * time.Second

// TimeoutError: a condition did not hold in time; the steps applied so far
// stay, and running the command again continues.
type TimeoutError struct {
	Cond Condition
	// What names what was waited for when it is not a Condition.
	What string
	Last string
}

// Kind is failure.Timeout.
func (e *TimeoutError) Kind() failure.Kind { return failure.Timeout }

func (e *TimeoutError) Error() string {
	what := e.What
	if what == "" {
		what = e.Cond.String()
	}
	return fmt.Sprintf("timed out waiting for %s (%s); the steps so far are applied: run the command again to continue, or abort", what, e.Last)
}

// Result lists the steps a run applied.
type Result struct {
	Applied []AppliedStep `json:"applied"`
	// Remaining names the steps not applied yet (--no-wait).
	Remaining []string `json:"remaining,omitempty"`
}

// AppliedStep is one change made.
type AppliedStep struct {
	Name    string `json:"name"`
	Message string `json:"message"`
	Ref     string `json:"ref"`
}

// Run plans req against the store's AppMesh and applies the steps,
// make-before-break. Bad input is reported before anything changes.
func Run(ctx context.Context, store Store, cl *Cluster, req Request, opts Options) (*Result, error) {
	if opts.Progress == nil {
		opts.Progress = io.Discard
	}
	if opts.Interval == 0 {
		opts.Interval = 500 * time.Millisecond
	}
	if opts.Settle == 0 {
		opts.Settle = DefaultSettle
	}
	cur, err := store.Load(ctx)
	if err != nil {
		return nil, err
	}
	if req.Op == OpStart && cl != nil && cur.Spec.Canary == nil && req.Target != "" {
		if err := cl.CheckTarget(ctx, req.Target); err != nil {
			return nil, err
		}
		if req.Replaces, err = cl.ChartImage(ctx, cur, req.Target, req.Container); err != nil {
			return nil, err
		}
	}
	plan, err := NewPlan(cur, req)
	if err != nil {
		ls, ok := store.(interface{ LastStep() string })
		if !ok {
			return nil, err
		}
		last := ls.LastStep()
		if plan = finishedPlan(cur, req, last); plan == nil {
			return nil, err
		}
		fmt.Fprintf(opts.Progress, "no canary is running and the newest record is this command's last step (%q): it was stopped while it waited; waiting for that step\n", last)
	}
	for _, s := range plan.Steps {
		if err := store.Check(ctx, s.Config); err != nil {
			return nil, &failure.BadInputError{Err: fmt.Errorf("step %q: %w", s.Name, err), Fix: "correct the AppMesh or chart as the message says, then run again; nothing was changed"}
		}
	}
	res := &Result{}
	// Wait for the step the store records last, also when it has no
	// conditions of its own (Pinning): a command stopped after that step's
	// commit or push, before the cluster applied it, must not make the
	// next change before Argo CD applied that one (two steps in one sync).
	if len(plan.Pending) > 0 || cur.Spec.Canary != nil {
		applied := cur
		if in, ok := store.(interface{ Interrupted() bool }); ok && in.Interrupted() {
			// A step that did not finish: the cluster may run part of it,
			// not cur; the plan applies it again.
			applied = nil
		}
		if err := waitAll(ctx, cl, applied, plan.Pending, nil, opts); err != nil {
			return res, err
		}
	}
	for i, s := range plan.Steps {
		if i > 0 && !opts.Wait {
			for _, r := range plan.Steps[i:] {
				res.Remaining = append(res.Remaining, r.Name)
			}
			fmt.Fprintf(opts.Progress, "--no-wait: stopping; next: %s (run the same command again when %s)\n", s.Name, condList(plan.Steps[i-1].After))
			break
		}
		fmt.Fprintf(opts.Progress, "step %d/%d: %s\n", i+1, len(plan.Steps), s.Name)
		var mark *pushMark
		if opts.Wait && cl != nil {
			if mark, err = cl.markPush(ctx); err != nil {
				return res, fmt.Errorf("step %q: %w", s.Name, err)
			}
		}
		ref, err := store.Save(ctx, s.Config, s.Message)
		if err != nil {
			return res, fmt.Errorf("step %q: %w", s.Name, err)
		}
		res.Applied = append(res.Applied, AppliedStep{Name: s.Name, Message: s.Message, Ref: ref})
		fmt.Fprintf(opts.Progress, "  applied %s: %s\n", ref, s.Message)
		if opts.Wait {
			if err := waitAll(ctx, cl, s.Config, s.After, mark, opts); err != nil {
				return res, err
			}
		}
	}
	return res, nil
}

func condList(cs []Condition) string {
	if len(cs) == 0 {
		return "Argo CD (or helm) applied it"
	}
	s := ""
	for i, c := range cs {
		if i > 0 {
			s += " and "
		}
		s += c.String()
	}
	return s
}

// waitAll waits until the cluster runs am (the state ConfigMap shows it;
// nil: not checked) and the conditions hold, then until the step is in
// effect (effect.go): istiod accepted the app's routing objects and the
// app's proxies acknowledged the push of the step applied after mark (nil:
// a step an earlier run applied). Without Wait each condition is checked
// once.
func waitAll(ctx context.Context, cl *Cluster, am *appmesh.AppMesh, conds []Condition, mark *pushMark, opts Options) error {
	if cl == nil {
		if opts.Wait {
			return errors.New("cannot wait without access to the cluster (fix: give --kubeconfig/--context, or use --no-wait)")
		}
		return nil
	}
	all := conds
	if am != nil {
		all = append([]Condition{{Kind: Applied, Config: am}}, conds...)
	}
	for _, c := range all {
		fmt.Fprintf(opts.Progress, "  waiting for %s\n", c)
		deadline := time.Now().Add(opts.Timeout)
		for {
			ok, detail, err := cl.Check(ctx, c)
			if err != nil {
				return fmt.Errorf("check %s: %w", c, err)
			}
			if ok {
				break
			}
			if !opts.Wait {
				return &TimeoutError{Cond: c, Last: detail + "; --no-wait checks once"}
			}
			if time.Now().After(deadline) {
				return &TimeoutError{Cond: c, Last: detail}
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(opts.Interval):
			}
		}
	}
	if opts.Wait {
		return cl.waitInEffect(ctx, mark, opts)
	}
	return nil
}
