package canary

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	istionet "istio.io/client-go/pkg/apis/networking/v1"
	istiofake "istio.io/client-go/pkg/clientset/versioned/fake"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kubefake "k8s.io/client-go/kubernetes/fake"

	"github.com/meshbundle/meshbundle/renderer"
)

func TestParseRouting(t *testing.T) {
	for _, tc := range []struct {
		list    string            // renderer.RoutingAnnotation
		want    map[string]string // nil: an error
		wantLen int
	}{
		{"", map[string]string{}, 0},
		{"DestinationRule/web=aa,VirtualService/web=bb", map[string]string{"DestinationRule/web": "aa", "VirtualService/web": "bb"}, 2},
		{"VirtualService/web", nil, 0},  // no hash
		{"web=aa", nil, 0},              // no kind
		{"VirtualService/web=", nil, 0}, // empty hash
	} {
		got, err := parseRouting(tc.list)
		if (err != nil) != (tc.want == nil) || len(got) != tc.wantLen {
			t.Errorf("parseRouting(%q) = %v, %v; want %v", tc.list, got, err, tc.want)
			continue
		}
		for k, v := range tc.want {
			if got[k] != v {
				t.Errorf("parseRouting(%q)[%s] = %q, want %q", tc.list, k, got[k], v)
			}
		}
	}
}

func TestNotRendered(t *testing.T) {
	obj := func(kind, name, hash string) routingObject {
		return routingObject{Kind: kind, Name: name, Rendered: hash}
	}
	want := map[string]string{"VirtualService/web": "new", "DestinationRule/web": "dr"}
	for _, tc := range []struct {
		name    string
		objs    []routingObject // live
		pending string          // "" when the step's objects all arrived; else a substring
	}{
		{"all arrived", []routingObject{obj(kindVirtualService, "web", "new"), obj(kindDestinationRule, "web", "dr")}, ""},
		{"the previous step's VirtualService", []routingObject{obj(kindVirtualService, "web", "old"), obj(kindDestinationRule, "web", "dr")}, `VirtualService/web: rendered "old", the step's render is "new"`},
		{"a DestinationRule the step creates", []routingObject{obj(kindVirtualService, "web", "new")}, "DestinationRule/web: not created yet"},
		{"one the step removes", []routingObject{obj(kindVirtualService, "web", "new"), obj(kindDestinationRule, "web", "dr"), obj(kindVirtualService, "old", "x")}, "VirtualService/old: still exists"},
		{"a chart's object labelled alike", []routingObject{obj(kindVirtualService, "web", "new"), obj(kindDestinationRule, "web", "dr"), obj(kindVirtualService, "chart", "")}, ""},
		{"an object without a hash where one is listed", []routingObject{obj(kindVirtualService, "web", ""), obj(kindDestinationRule, "web", "dr")}, "VirtualService/web: rendered"},
	} {
		got := notRendered(want, tc.objs)
		if (tc.pending == "") != (got == "") || !strings.Contains(got, tc.pending) {
			t.Errorf("%s: notRendered = %q, want %q", tc.name, got, tc.pending)
		}
	}
}

// TestGateWaitsForTheRender: the gate does not read the app's routing
// objects as the step's before they are the ones the state ConfigMap's
// render made: it waits while the VirtualService is the previous step's,
// goes on once it arrives (updated while it waits), and with the test hook
// NoRenderedCheck (the e2e negative control) does not wait at all.
func TestGateWaitsForTheRender(t *testing.T) {
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: renderer.StateConfigMapName("shop"),
		Annotations: map[string]string{renderer.RoutingAnnotation: "VirtualService/web=new"}}}
	vs := func(hash string) *istionet.VirtualService {
		return &istionet.VirtualService{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web",
			Labels: map[string]string{"meshbundle.dev/app": "shop"}, Annotations: map[string]string{renderer.RenderedAnnotation: hash}}}
	}
	for _, tc := range []struct {
		name     string
		live     string // the VirtualService's hash at first
		arrives  bool   // updated to "new" while the gate waits
		noCheck  bool   // Options.NoRenderedCheck
		wantWait bool   // the gate times out waiting for the render
	}{
		{"the step's objects are there", "new", false, false, false},
		{"the previous step's", "old", false, false, true},
		{"the step's arrive while it waits", "old", true, false, false},
		{"the previous step's, check off", "old", false, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			istio := istiofake.NewSimpleClientset(vs(tc.live))
			c := &Cluster{Client: kubefake.NewSimpleClientset(cm), Namespace: "shop", App: "shop", Istio: istio}
			if tc.arrives {
				go func() {
					time.Sleep(100 * time.Millisecond)
					_, _ = istio.NetworkingV1().VirtualServices("shop").Update(context.Background(), vs("new"), metav1.UpdateOptions{})
				}()
			}
			var progress strings.Builder
			opts := Options{Timeout: time.Second, Interval: 10 * time.Millisecond, Settle: -1, Progress: &progress, NoRenderedCheck: tc.noCheck}
			err := c.waitInEffect(context.Background(), nil, opts)
			var timeout *TimeoutError
			switch {
			case tc.wantWait && (!errors.As(err, &timeout) || !strings.Contains(err.Error(), `VirtualService/web: rendered "old"`)):
				t.Errorf("waitInEffect = %v, want a timeout waiting for VirtualService/web\n%s", err, progress.String())
			case !tc.wantWait && err != nil:
				t.Errorf("waitInEffect = %v, want nil\n%s", err, progress.String())
			case tc.arrives && !strings.Contains(progress.String(), "the step's routing objects arrived after"):
				t.Errorf("the gate did not say it waited for the render:\n%s", progress.String())
			}
		})
	}
}
