package canary

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/meshbundle/meshbundle/appmesh"
	"github.com/meshbundle/meshbundle/failure"
)

// mesh builds an AppMesh of app "reviews-app" with a route and, optionally,
// a canary in a phase.
func mesh(c *appmesh.Canary) *appmesh.AppMesh {
	am := &appmesh.AppMesh{APIVersion: appmesh.APIVersion, Kind: appmesh.Kind,
		Metadata: appmesh.Metadata{Name: "bookinfo", Namespace: "bookinfo"},
		Spec:     appmesh.Spec{Routes: []appmesh.Route{{Service: "reviews"}}, Canary: c}}
	appmesh.SetDefaults(am)
	return am
}

func inPhase(p appmesh.CanaryPhase, w int32) *appmesh.Canary {
	return &appmesh.Canary{Target: "reviews", Version: "v2", Image: "reviews:2", Phase: p, Weight: w}
}

var startReq = Request{Op: OpStart, Target: "reviews", Version: "v2", Image: "reviews:2"}

func TestPlanSteps(t *testing.T) {
	tests := []struct {
		name     string           // the situation
		cur      *appmesh.AppMesh // the AppMesh before the command
		req      Request          // the command
		messages []string         // the commit messages of the planned steps, in order
	}{
		// The route moves to the stable subset one step before the copy
		// exists (the copy's pods match the Service host).
		{"start", mesh(nil), startReq, []string{"canary reviews v2: label the stable pods", "canary reviews v2: route to the stable pods", "canary reviews v2: start reviews-v2 at weight 0"}},
		{"start again after --no-wait continues", mesh(inPhase(appmesh.CanaryLabelling, 0)), startReq, []string{"canary reviews v2: route to the stable pods", "canary reviews v2: start reviews-v2 at weight 0"}},
		{"start again after pinning continues", mesh(inPhase(appmesh.CanaryPinning, 0)), startReq, []string{"canary reviews v2: start reviews-v2 at weight 0"}},
		// Killed while it waited for the copy: nothing to change, it waits.
		{"start again after its last step", mesh(inPhase(appmesh.CanaryStarting, 0)), startReq, nil},
		// No copy yet: only the route goes back to the host, then the label.
		{"abort while pinning", mesh(inPhase(appmesh.CanaryPinning, 0)), Request{Op: OpAbort}, []string{"canary reviews v2: abort, route to the Service host", "canary reviews v2: aborted"}},
		{"weight", mesh(inPhase(appmesh.CanaryStarting, 0)), Request{Op: OpWeight, Weight: 10}, []string{"canary reviews v2: weight 10%"}},
		{"weight again", mesh(inPhase(appmesh.CanaryProgressing, 10)), Request{Op: OpWeight, Weight: 50}, []string{"canary reviews v2: weight 50%"}},
		// Run again after it was killed while waiting: nothing to change
		// (no empty commit, no helm revision that changes nothing).
		{"weight run again", mesh(inPhase(appmesh.CanaryProgressing, 10)), Request{Op: OpWeight, Weight: 10}, nil},
		{"abort", mesh(inPhase(appmesh.CanaryProgressing, 50)), Request{Op: OpAbort}, []string{
			"canary reviews v2: abort, all traffic to stable", "canary reviews v2: abort, remove reviews-v2",
			"canary reviews v2: abort, route to the Service host", "canary reviews v2: aborted"}},
		{"abort continues", mesh(inPhase(appmesh.CanaryRemoving, 0)), Request{Op: OpAbort}, []string{
			"canary reviews v2: abort, route to the Service host", "canary reviews v2: aborted"}},
		{"abort while labelling", mesh(inPhase(appmesh.CanaryLabelling, 0)), Request{Op: OpAbort}, []string{"canary reviews v2: aborted, stable unchanged"}},
		{"promote", mesh(inPhase(appmesh.CanaryProgressing, 50)), Request{Op: OpPromote}, []string{
			"canary reviews v2: promote, weight 100%", "canary reviews v2: promote, stable reviews runs v2",
			"canary reviews v2: promote, route to the Service host", "canary reviews v2: promoted, reviews-v2 removed"}},
		{"promote continues", mesh(inPhase(appmesh.CanaryStabilizing, 100)), Request{Op: OpPromote}, []string{
			"canary reviews v2: promote, route to the Service host", "canary reviews v2: promoted, reviews-v2 removed"}},
		{"promote continues after routing back", mesh(inPhase(appmesh.CanaryFinishing, 100)), Request{Op: OpPromote}, []string{"canary reviews v2: promoted, reviews-v2 removed"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, _ := appmesh.Marshal(tt.cur)
			p, err := NewPlan(tt.cur, tt.req)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, s := range p.Steps {
				got = append(got, s.Message)
			}
			if !slices.Equal(got, tt.messages) {
				t.Errorf("steps:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(tt.messages, "\n  "))
			}
			if after, _ := appmesh.Marshal(tt.cur); string(after) != string(before) {
				t.Error("NewPlan modified the current AppMesh")
			}
		})
	}
}

// TestPlanPromoteRecordsPromotion: the last promote step drops the canary
// and pins the new image on the stable Deployment.
func TestPlanPromoteRecordsPromotion(t *testing.T) {
	p, err := NewPlan(mesh(inPhase(appmesh.CanaryStabilizing, 100)), Request{Op: OpPromote})
	if err != nil {
		t.Fatal(err)
	}
	last := p.Steps[len(p.Steps)-1].Config
	if last.Spec.Canary != nil {
		t.Errorf("canary left after promote: %+v", last.Spec.Canary)
	}
	want := []appmesh.Promotion{{Deployment: "reviews", Version: "v2", Image: "reviews:2"}}
	if !slices.Equal(last.Spec.Promoted, want) {
		t.Errorf("promoted = %+v, want %+v", last.Spec.Promoted, want)
	}
	if len(p.Pending) != 1 || p.Pending[0].Deployment != "reviews" || p.Pending[0].Image != "reviews:2" {
		t.Errorf("pending = %+v, want the stable Ready with the new image", p.Pending)
	}
}

func TestPlanBadInput(t *testing.T) {
	tests := []struct {
		name string           // the mistake
		cur  *appmesh.AppMesh // the AppMesh before the command
		req  Request          // the command
		want string           // part of the error
	}{
		{"weight above 100", mesh(inPhase(appmesh.CanaryProgressing, 10)), Request{Op: OpWeight, Weight: 101}, "between 0 and 100"},
		{"weight below 0", mesh(inPhase(appmesh.CanaryProgressing, 10)), Request{Op: OpWeight, Weight: -1}, "between 0 and 100"},
		{"weight without canary", mesh(nil), Request{Op: OpWeight, Weight: 10}, "no canary is running"},
		{"weight while promoting", mesh(inPhase(appmesh.CanaryPromoting, 100)), Request{Op: OpWeight, Weight: 10}, "only in Starting or Progressing"},
		{"promote without canary", mesh(nil), Request{Op: OpPromote}, "nothing to promote"},
		{"promote while pinning", mesh(inPhase(appmesh.CanaryPinning, 0)), Request{Op: OpPromote}, "still starting"},
		{"weight while pinning", mesh(inPhase(appmesh.CanaryPinning, 0)), Request{Op: OpWeight, Weight: 10}, "only in Starting or Progressing"},
		{"promote while aborting", mesh(inPhase(appmesh.CanaryAborting, 0)), Request{Op: OpPromote}, "being aborted"},
		{"abort without canary", mesh(nil), Request{Op: OpAbort}, "nothing to abort"},
		{"abort after the stable moved", mesh(inPhase(appmesh.CanaryStabilizing, 100)), Request{Op: OpAbort}, "finish with `meshbundle canary promote`"},
		{"abort after routing back", mesh(inPhase(appmesh.CanaryFinishing, 100)), Request{Op: OpAbort}, "finish with `meshbundle canary promote`"},
		{"start while one runs", mesh(inPhase(appmesh.CanaryProgressing, 10)), Request{Op: OpStart, Target: "reviews", Version: "v3", Image: "reviews:3"}, "already running"},
		{"start again after weight", mesh(inPhase(appmesh.CanaryProgressing, 10)), startReq, "already running"},
		{"another start while one starts", mesh(inPhase(appmesh.CanaryStarting, 0)), Request{Op: OpStart, Target: "reviews", Version: "v2", Image: "reviews:3"}, "already running"},
		{"start without image", mesh(nil), Request{Op: OpStart, Target: "reviews", Version: "v2"}, "image of the copy is required (--image)"},
		{"start without deployment", mesh(nil), Request{Op: OpStart, Version: "v2", Image: "x"}, "--deployment"},
		{"start with the promoted version", func() *appmesh.AppMesh {
			am := mesh(nil)
			am.Spec.Promoted = []appmesh.Promotion{{Deployment: "reviews", Version: "v2", Image: "reviews:2"}}
			return am
		}(), startReq, "already runs version v2"},
		{"start with a bad version", mesh(nil), Request{Op: OpStart, Target: "reviews", Version: "V_2", Image: "x"}, `--version "V_2"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewPlan(tt.cur, tt.req)
			var bad *failure.BadInputError
			if !errors.As(err, &bad) {
				t.Fatalf("err = %v, want a failure.BadInputError", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q lacks %q", err, tt.want)
			}
		})
	}
}
