package dataplane

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// readyPod builds a Ready pod of namespace ns on ip, declaring port.
func readyPod(ns, name, version, ip string, port int32) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID(ns + "/" + name), Labels: map[string]string{VersionLabel: version}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Ports: []corev1.ContainerPort{{ContainerPort: port}}}}},
		Status: corev1.PodStatus{PodIP: ip, Conditions: []corev1.PodCondition{
			{Type: corev1.PodReady, Status: corev1.ConditionTrue},
		}},
	}
}

// TestPodIPReusedAcrossNamespaces: kwok gives a freed pod IP to the next
// new pod of any namespace, and all Servers of a test binary listen in one
// network namespace. A new pod given the IP of a pod another Servers still
// serves (draining, or not yet seen going by its informer) is served: the
// old server is stopped first, and its Servers records the stop as cut
// short. Before ipOwners, each Servers knew only its own pods' IPs and the
// new pod's server failed with "address already in use" (TestSlowPush's
// cleanup, two namespaces served at once).
func TestPodIPReusedAcrossNamespaces(t *testing.T) {
	for _, tc := range []struct {
		name string
		// oldGoneSeen: the old pod's deletion reached its Servers before the
		// new pod's IP did (its server is draining); else its informer lags.
		oldGoneSeen bool
		// sameNamespace: the new pod is in the old pod's namespace (one
		// Servers), as a rollout's next pod.
		sameNamespace bool
	}{
		{name: "other namespace, old pod draining", oldGoneSeen: true},
		{name: "other namespace, old pod's deletion not seen yet", oldGoneSeen: false},
		{name: "same namespace, old pod draining", oldGoneSeen: true, sameNamespace: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const ip = "127.0.0.1"
			port := freePort(t)
			// A long drain: without the take-over the old server still
			// listens when the new pod comes.
			a := newServers("a", time.Minute)
			defer a.Stop()
			b := a
			if !tc.sameNamespace {
				b = newServers("b", time.Minute)
				defer b.Stop()
			}
			old := readyPod("a", "web-1", "stable", ip, port)
			a.sync(old, false)
			if tc.oldGoneSeen {
				a.sync(old, true)
			}
			b.sync(readyPod(b.namespace, "web-2", "v2", ip, port), false)
			if !tc.oldGoneSeen {
				a.sync(old, true) // late: must not stop or free the new pod's server
			}
			if err := b.Err(); err != nil {
				t.Fatalf("new pod not served: %v", err)
			}

			d, err := NewDriver("passthrough:///" + ip + ":" + strconv.Itoa(int(port)))
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			d.Timeout = time.Second
			res := d.Run(context.Background(), 20)
			if res.Failed > 0 || res.ByPod[b.namespace+"/web-2"] != 20 {
				t.Errorf("requests to %s:%d: %v, want all 20 answered by %s/web-2", ip, port, res, b.namespace)
			}

			var stopped []ServerEvent
			for _, e := range a.Events() {
				if e.Pod.Pod == "web-1" && strings.HasPrefix(e.What, "stopped") {
					stopped = append(stopped, e)
				}
			}
			want := "stopped: IP reused by " + b.namespace + "/web-2"
			if len(stopped) != 1 || stopped[0].What != want || !stopped[0].CutShort {
				t.Errorf("old pod's server stops: %v, want one %q, cut short", stopped, want)
			}
		})
	}
}
