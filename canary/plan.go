// Package canary runs the canary lifecycle of docs/canary.md as an explicit
// state machine: every command (start, weight, abort, promote) is planned
// as a list of named steps, each one change of the app's AppMesh (one git
// commit, or one helm upgrade), and each step waits for what the next one
// needs (make-before-break, DESIGN §3). The state is the AppMesh itself, so
// an interrupted command (or one run with --no-wait) continues where it
// stopped when run again.
package canary

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/meshbundle/meshbundle/appmesh"
	"github.com/meshbundle/meshbundle/failure"
	"github.com/meshbundle/meshbundle/renderer"
)

// Op is a canary command.
type Op string

const (
	OpStart   Op = "start"
	OpWeight  Op = "weight"
	OpAbort   Op = "abort"
	OpPromote Op = "promote"
)

// Request is what the user asked for.
type Request struct {
	Op Op
	// Start: the Deployment, the copy's version label, image and container.
	Target, Version, Image, Container string
	// Weight: the percentage for the copy.
	Weight int32
	// Replaces (start): the image the chart renders for the container,
	// recorded for the promotion (Run reads it from the cluster).
	Replaces string
}

// CondKind is what a condition waits for in the cluster.
type CondKind string

const (
	// DeploymentReady: the Deployment observed its latest spec and all
	// replicas are updated and ready; with Label, its pod template carries
	// that label key; with Image, its container runs that image.
	DeploymentReady CondKind = "DeploymentReady"
	// DeploymentGone: the Deployment does not exist.
	DeploymentGone CondKind = "DeploymentGone"
)

// Condition must hold in the cluster before the next step.
type Condition struct {
	Kind       CondKind
	Deployment string
	Label      string // DeploymentReady: the template has this label key
	Image      string // DeploymentReady: some container runs this image
	// Config is the AppMesh the state ConfigMap must show (Applied).
	Config *appmesh.AppMesh
}

func (c Condition) String() string {
	switch c.Kind {
	case Applied:
		return "the cluster to apply canary " + describe(c.Config.Spec.Canary)
	case DeploymentGone:
		return "Deployment " + c.Deployment + " removed"
	default:
		s := "Deployment " + c.Deployment + " Ready"
		if c.Image != "" {
			s += " with image " + c.Image
		}
		return s
	}
}

// Step is one change of the AppMesh.
type Step struct {
	// Name says what the step does ("start copy at weight 0").
	Name string
	// Message is the commit message / helm description, a timeline entry:
	// "canary reviews v2: weight 10%".
	Message string
	// Config is the whole AppMesh after the step.
	Config *appmesh.AppMesh
	// After must hold in the cluster before the next step (or command).
	After []Condition
}

// Plan is the steps from the current AppMesh to the request's goal.
type Plan struct {
	// Pending must hold before the first step: what the last applied step
	// is waiting for (a command run again after --no-wait or a timeout
	// continues here).
	Pending []Condition
	Steps   []Step
}

// conditions is what a phase needs in the cluster before the next phase.
func conditions(c *appmesh.Canary) []Condition {
	cp := renderer.CopyName(c.Target, c.Version)
	switch c.Phase {
	case appmesh.CanaryLabelling:
		return []Condition{{Kind: DeploymentReady, Deployment: c.Target, Label: "version"}}
	case appmesh.CanaryStarting, appmesh.CanaryProgressing, appmesh.CanaryPromoting:
		// No traffic on the copy before it is Ready, and no more traffic
		// while it is not.
		return []Condition{{Kind: DeploymentReady, Deployment: cp, Image: c.Image}}
	case appmesh.CanaryStabilizing, appmesh.CanaryFinishing:
		return []Condition{{Kind: DeploymentReady, Deployment: c.Target, Image: c.Image}}
	case appmesh.CanaryRemoving:
		return []Condition{{Kind: DeploymentGone, Deployment: cp}}
	}
	return nil
}

// NewPlan plans req against the current AppMesh (which it does not modify).
func NewPlan(cur *appmesh.AppMesh, req Request) (*Plan, error) {
	c := cur.Spec.Canary
	p := &Plan{}
	if c != nil {
		p.Pending = conditions(c)
	}
	b := builder{cur: cur, plan: p}
	switch req.Op {
	case OpStart:
		if err := checkStart(cur, req); err != nil {
			return nil, err
		}
		if c != nil {
			same := c.Target == req.Target && c.Version == req.Version && c.Image == req.Image && c.Container == req.Container
			// The same start again continues it: after --no-wait, or after
			// it was killed (in Starting: while it waited for the copy).
			if !same || (c.Phase != appmesh.CanaryLabelling && c.Phase != appmesh.CanaryPinning && c.Phase != appmesh.CanaryStarting) {
				return nil, failure.BadInputf("a canary of Deployment %s (version %s) is already running, phase %s: only one canary per app (fix: `meshbundle canary abort` or `promote` it first)", c.Target, c.Version, c.Phase)
			}
		} else {
			p.Pending = nil
			b.step("label stable version", "label the stable pods", &appmesh.Canary{Target: req.Target, Version: req.Version, Image: req.Image, Container: req.Container, Phase: appmesh.CanaryLabelling, Replaces: req.Replaces})
		}
		if c == nil || c.Phase == appmesh.CanaryLabelling {
			// The route leaves the Service host one change before the copy
			// exists: the copy's pods match the Service's selector, so a
			// proxy still routing by host would send them requests at
			// weight 0 (docs/dataplane.md measured it).
			b.phase("route to the stable subset", "route to the stable pods", appmesh.CanaryPinning, 0)
		}
		b.phase("start copy at weight 0", "start "+renderer.CopyName(req.Target, req.Version)+" at weight 0", appmesh.CanaryStarting, 0)
	case OpWeight:
		if req.Weight < 0 || req.Weight > 100 {
			return nil, failure.BadInputf("weight %d: must be between 0 and 100 (fix: give the percentage of traffic for the copy)", req.Weight)
		}
		if c == nil {
			return nil, failure.BadInputf("no canary is running for app %s (fix: `meshbundle canary start` first)", cur.Metadata.Name)
		}
		if c.Phase != appmesh.CanaryStarting && c.Phase != appmesh.CanaryProgressing {
			return nil, failure.BadInputf("canary %s %s is in phase %s; the weight can change only in Starting or Progressing (fix: finish the running abort or promote)", c.Target, c.Version, c.Phase)
		}
		b.phase(fmt.Sprintf("weight %d%%", req.Weight), fmt.Sprintf("weight %d%%", req.Weight), appmesh.CanaryProgressing, req.Weight)
	case OpAbort:
		if c == nil {
			return nil, failure.BadInputf("no canary is running for app %s: nothing to abort (fix: check the app name and `meshbundle canary status`)", cur.Metadata.Name)
		}
		switch c.Phase {
		case appmesh.CanaryStabilizing, appmesh.CanaryFinishing:
			return nil, failure.BadInputf("canary %s %s is in phase %s: the stable Deployment already runs the new version (fix: finish with `meshbundle canary promote`)", c.Target, c.Version, c.Phase)
		case appmesh.CanaryLabelling:
			// No copy yet and routing on the Service host: one step back.
			b.remove("abort", abortedUnchanged, nil)
		default:
			if c.Phase.CopyRuns() && c.Phase != appmesh.CanaryAborting {
				b.phase("abort: weight 0", "abort, all traffic to stable", appmesh.CanaryAborting, 0)
			}
			if c.Phase.CopyRuns() {
				b.phase("abort: remove copy", "abort, remove "+renderer.CopyName(c.Target, c.Version), appmesh.CanaryRemoving, 0)
			}
			if c.Phase != appmesh.CanaryUnlabelling {
				b.phase("abort: route to the Service", "abort, route to the Service host", appmesh.CanaryUnlabelling, 0)
			}
			b.remove("abort: unlabel stable", aborted, []Condition{{Kind: DeploymentReady, Deployment: c.Target}})
		}
	case OpPromote:
		if c == nil {
			return nil, failure.BadInputf("no canary is running for app %s: nothing to promote (fix: `meshbundle canary start` first)", cur.Metadata.Name)
		}
		switch c.Phase {
		case appmesh.CanaryStarting, appmesh.CanaryProgressing:
			b.phase("promote: weight 100", "promote, weight 100%", appmesh.CanaryPromoting, 100)
			fallthrough
		case appmesh.CanaryPromoting:
			b.phase("promote: move stable", "promote, stable "+c.Target+" runs "+c.Version, appmesh.CanaryStabilizing, 100)
			fallthrough
		case appmesh.CanaryStabilizing:
			// Routing leaves the copy's subset first; the copy goes in the
			// next change, which then changes no route (DESIGN §3).
			b.phase("promote: route to the Service", "promote, route to the Service host", appmesh.CanaryFinishing, 100)
			fallthrough
		case appmesh.CanaryFinishing:
			prom := appmesh.Promotion{Deployment: c.Target, Container: c.Container, Version: c.Version, Image: c.Image, Replaces: c.Replaces}
			b.remove("promote: remove copy", promoted(c.Target, c.Version), []Condition{{Kind: DeploymentGone, Deployment: renderer.CopyName(c.Target, c.Version)}}, prom)
		case appmesh.CanaryLabelling, appmesh.CanaryPinning:
			return nil, failure.BadInputf("canary %s %s is in phase %s, still starting: there is no copy to promote yet (fix: finish with `meshbundle canary start`, or `meshbundle canary abort`)", c.Target, c.Version, c.Phase)
		default:
			return nil, failure.BadInputf("canary %s %s is in phase %s, being aborted: it cannot be promoted (fix: finish with `meshbundle canary abort`)", c.Target, c.Version, c.Phase)
		}
	default:
		return nil, failure.BadInputf("unknown canary command %q (fix: use start, weight, abort or promote)", req.Op)
	}
	// A step the AppMesh already records is applied: a command run again
	// after it was killed while waiting (or after --no-wait) waits for that
	// step's conditions instead of making the same change again (an empty
	// commit, a helm revision that changes nothing).
	for len(p.Steps) > 0 && sameCanary(p.Steps[0].Config, cur) {
		p.Pending, p.Steps = p.Steps[0].After, p.Steps[1:]
	}
	for _, s := range p.Steps {
		if errs := appmesh.Validate(s.Config); len(errs) > 0 {
			return nil, failure.BadInputf("step %q: the AppMesh it would write is invalid: %w (fix: correct the AppMesh fields named, then run again)", s.Name, errs.ToAggregate())
		}
	}
	return p, nil
}

// What the last step of abort and promote records (after "canary <target>
// <version>: "): finishedPlan reads it back.
const (
	aborted          = "aborted"
	abortedUnchanged = "aborted, stable unchanged"
)

func promoted(target, version string) string {
	return "promoted, " + renderer.CopyName(target, version) + " removed"
}

// finishedPlan is the plan of an abort or promote run again after it was
// killed while it waited after its last step: no canary is left to plan
// from, but the store's newest record (lastStep: HEAD's commit message,
// or the deployed revision's description) is that last step, so the
// command waits for that step's conditions and finishes. Anything recorded
// since (another commit or revision) and the command is refused as before
// (nil).
func finishedPlan(cur *appmesh.AppMesh, req Request, lastStep string) *Plan {
	if cur.Spec.Canary != nil {
		return nil
	}
	var target, version string
	if _, err := fmt.Sscanf(lastStep, "canary %s %s", &target, &version); err != nil || !strings.HasSuffix(version, ":") {
		return nil
	}
	version = strings.TrimSuffix(version, ":")
	what := strings.TrimPrefix(lastStep, message(&appmesh.Canary{Target: target, Version: version}, ""))
	switch {
	case req.Op == OpAbort && what == aborted:
		return &Plan{Pending: []Condition{{Kind: DeploymentReady, Deployment: target}}}
	case req.Op == OpAbort && what == abortedUnchanged:
		return &Plan{}
	case req.Op == OpPromote && what == promoted(target, version):
		return &Plan{Pending: []Condition{{Kind: DeploymentGone, Deployment: renderer.CopyName(target, version)}}}
	}
	return nil
}

func checkStart(cur *appmesh.AppMesh, req Request) error {
	var errs []error
	if req.Target == "" {
		errs = append(errs, errors.New("the Deployment to canary is required (--deployment)"))
	}
	if req.Version == "" {
		errs = append(errs, errors.New("the version label of the copy is required (--version, e.g. v2)"))
	} else if msgs := validation.IsDNS1123Label(req.Version); len(msgs) > 0 {
		errs = append(errs, fmt.Errorf("--version %q: %s", req.Version, msgs[0]))
	}
	if req.Image == "" {
		errs = append(errs, errors.New("the image of the copy is required (--image)"))
	}
	for _, p := range cur.Spec.Promoted {
		if p.Deployment == req.Target && p.Version == req.Version && req.Version != "" {
			errs = append(errs, fmt.Errorf("--version %s: Deployment %s already runs version %s (promoted); a canary needs a new version label", req.Version, req.Target, p.Version))
		}
	}
	if len(errs) > 0 {
		return &failure.BadInputError{Err: errors.Join(errs...), Fix: "give the flags named"}
	}
	return nil
}

// builder appends steps, each from the previous step's AppMesh.
type builder struct {
	cur  *appmesh.AppMesh
	plan *Plan
}

func (b *builder) last() *appmesh.AppMesh {
	if n := len(b.plan.Steps); n > 0 {
		return b.plan.Steps[n-1].Config
	}
	return b.cur
}

func clone(am *appmesh.AppMesh) *appmesh.AppMesh {
	out := *am
	if am.Spec.Canary != nil {
		c := *am.Spec.Canary
		out.Spec.Canary = &c
	}
	out.Spec.Promoted = slices.Clone(am.Spec.Promoted)
	return &out
}

func message(c *appmesh.Canary, what string) string {
	return fmt.Sprintf("canary %s %s: %s", c.Target, c.Version, what)
}

// step sets the canary section.
func (b *builder) step(name, what string, c *appmesh.Canary) {
	am := clone(b.last())
	am.Spec.Canary = c
	b.plan.Steps = append(b.plan.Steps, Step{Name: name, Message: message(c, what), Config: am, After: conditions(c)})
}

// phase moves the current canary to a phase and weight.
func (b *builder) phase(name, what string, phase appmesh.CanaryPhase, weight int32) {
	c := *b.last().Spec.Canary
	c.Phase, c.Weight = phase, weight
	b.step(name, what, &c)
}

// remove drops the canary section, recording a promotion if given.
func (b *builder) remove(name, what string, after []Condition, prom ...appmesh.Promotion) {
	prev := b.last()
	am := clone(prev)
	c := prev.Spec.Canary
	am.Spec.Canary = nil
	for _, p := range prom {
		i := slices.IndexFunc(am.Spec.Promoted, func(x appmesh.Promotion) bool { return x.Deployment == p.Deployment })
		if i >= 0 {
			am.Spec.Promoted[i] = p
		} else {
			am.Spec.Promoted = append(am.Spec.Promoted, p)
		}
	}
	b.plan.Steps = append(b.plan.Steps, Step{Name: name, Message: message(c, what), Config: am, After: after})
}
