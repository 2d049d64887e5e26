package lease

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// A lease is stale once its holder has not renewed it for its duration; the
// refusal names the lease, the holder, since when, and when it would be
// taken over.
func TestStale(t *testing.T) {
	now := time.Date(2026, 12, 3, 13, 0, 0, 0, time.UTC)
	cases := []struct {
		name      string        // test name
		renewed   time.Duration // last renewal, before now
		duration  int           // the holder's lease duration in seconds
		wantStale bool          // a new run takes it over
	}{
		{name: "just renewed", renewed: time.Second, duration: 15},
		{name: "renewed within its duration", renewed: 14 * time.Second, duration: 15},
		{name: "not renewed for longer than its duration", renewed: 16 * time.Second, duration: 15, wantStale: true},
		{name: "a holder's own longer duration counts", renewed: 40 * time.Second, duration: 60},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := &resourcelock.LeaderElectionRecord{HolderIdentity: "meshbundle install on h pid 7 (ab)", LeaseDurationSeconds: tc.duration,
				AcquireTime: metav1.NewTime(now.Add(-time.Minute)), RenewTime: metav1.NewTime(now.Add(-tc.renewed))}
			if got := Stale(r, now); got != tc.wantStale {
				t.Errorf("stale = %v, want %v", got, tc.wantStale)
			}
			msg := lockedError("kube-system", "meshbundle-installer", r).Error()
			for _, want := range []string{"meshbundle install on h pid 7 (ab)", "since 2026-12-03T12:59:00Z", "kube-system/meshbundle-installer", "nothing was changed"} {
				if !strings.Contains(msg, want) {
					t.Errorf("refusal %q lacks %q", msg, want)
				}
			}
		})
	}
}
