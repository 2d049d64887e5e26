package installer

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Phase is one named step of the install state machine (cf. Flux
// helm-controller's atomic release steps). Install runs them in this order,
// uninstall runs the release phases in reverse.
type Phase string

const (
	PhaseValidate Phase = "validate" // merge + validate the IstioOperator, reach the cluster
	PhaseBase     Phase = "base"     // istio-base: CRDs, cluster roles; gateway-api-crds: the Gateway API CRDs
	PhaseCNI      Phase = "cni"      // istio-cni node agent
	PhaseIstiod   Phase = "istiod"   // istiod + meshbundle-mesh (Telemetry)
	PhaseZtunnel  Phase = "ztunnel"  // ambient profile: the ztunnel node proxy (after istiod, whose CA signs its certificates)
	PhaseWait     Phase = "wait"     // istiod Available, so injection works for the gateway
	PhaseGateway  Phase = "gateway"  // istio-ingress from the gateway chart
	PhaseAddons   Phase = "addons"   // meshbundle-addons, if the chart is present
	PhaseVerify   Phase = "verify"   // releases deployed, CRDs established, workloads ready
	PhaseCleanup  Phase = "cleanup"  // uninstall only: CRDs, istiod's root-cert ConfigMaps, our namespaces
)

// Phases lists the install order.
var Phases = []Phase{PhaseValidate, PhaseBase, PhaseCNI, PhaseIstiod, PhaseZtunnel, PhaseWait, PhaseGateway, PhaseAddons, PhaseVerify}

// UninstallPhases lists the uninstall order: the release phases reversed.
var UninstallPhases = []Phase{PhaseValidate, PhaseAddons, PhaseGateway, PhaseZtunnel, PhaseIstiod, PhaseCNI, PhaseBase, PhaseCleanup}

// State of a phase or release in a Result.
type State string

const (
	StateDone      State = "done"      // something was written
	StateUnchanged State = "unchanged" // desired == deployed, nothing written
	StateSkipped   State = "skipped"   // nothing to do (message says why)
	StateFailed    State = "failed"
	StatePending   State = "pending" // not reached (an earlier phase failed or the run was cancelled)
)

// Action says what happened to one release.
type Action string

const (
	ActionInstalled   Action = "installed"
	ActionUpgraded    Action = "upgraded"
	ActionUnchanged   Action = "unchanged"
	ActionRendered    Action = "rendered" // --dry-run
	ActionUninstalled Action = "uninstalled"
	ActionAbsent      Action = "absent"  // uninstall: nothing was there
	ActionPlanned     Action = "planned" // uninstall --dry-run: would be removed if present
	// ActionExternal: install left the release out because the cluster
	// already has what it installs from someone else (Gateway API CRDs of
	// a supported bundle version); nothing written.
	ActionExternal Action = "external"
)

// ReleaseResult is one Helm release's outcome.
type ReleaseResult struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	Chart     string `json:"chart"`
	Action    Action `json:"action"`
	// Unlocked is set when a release left pending-* by a killed run was
	// marked failed first so this run could proceed.
	Unlocked bool `json:"unlocked,omitempty"`
	// Restored lists objects the deployed revision has but the cluster had
	// lost (deleted behind Helm's back); the upgrade recreated them.
	Restored []string `json:"restored,omitempty"`
	Revision int      `json:"revision,omitempty"`
	Objects  int      `json:"objects"`
}

// PhaseResult is one phase's outcome.
type PhaseResult struct {
	Phase    Phase           `json:"phase"`
	State    State           `json:"state"`
	Message  string          `json:"message,omitempty"`
	Releases []ReleaseResult `json:"releases,omitempty"`
	Objects  int             `json:"objects"`
	Elapsed  Duration        `json:"elapsed"`
}

// Result is what Install/Uninstall return (also on error: the phases so far).
type Result struct {
	Operation string        `json:"operation"`
	DryRun    bool          `json:"dryRun,omitempty"`
	Phases    []PhaseResult `json:"phases"`
	Warnings  []string      `json:"warnings,omitempty"`
	// Kept lists what uninstall left in place on purpose (CRDs, namespaces
	// that are not provably the installer's alone) and why.
	Kept    []Kept   `json:"kept,omitempty"`
	Elapsed Duration `json:"elapsed"`
	// Rendered holds a dry run's manifests, release by release, in order.
	Rendered []RenderedRelease `json:"-"`
}

// RenderedRelease is one release's manifest from a dry run.
type RenderedRelease struct {
	Name      string
	Namespace string
	Chart     string
	Manifest  string
}

// Manifests joins a dry run's manifests into one YAML stream, each release
// introduced by a comment.
func (r *Result) Manifests() string {
	var b strings.Builder
	for _, rr := range r.Rendered {
		fmt.Fprintf(&b, "# meshbundle release %s, namespace %s, chart %s\n%s", rr.Name, rr.Namespace, rr.Chart, rr.Manifest)
		if !strings.HasSuffix(rr.Manifest, "\n") {
			b.WriteString("\n")
		}
	}
	return b.String()
}

// Event is sent to Options.Progress when a phase starts and ends.
type Event struct {
	Phase   Phase
	State   State // "" when the phase starts
	Message string
	Objects int
	Elapsed time.Duration // since the operation started
}

// Duration is written to JSON as seconds (a number pipelines can compare).
type Duration time.Duration

func (d Duration) MarshalJSON() ([]byte, error) {
	return []byte(strconv.FormatFloat(time.Duration(d).Seconds(), 'f', 3, 64)), nil
}
