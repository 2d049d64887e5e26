package killpoint

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/releaseutil"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/meshbundle/meshbundle/appmesh"
	"github.com/meshbundle/meshbundle/canary"
	"github.com/meshbundle/meshbundle/ci/testcluster"
	"github.com/meshbundle/meshbundle/renderer"
)

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

// releaseCanary is the canary (CanaryKey) in the AppMesh of app's state
// ConfigMap in a release: a pending revision's description is Helm's
// "Preparing upgrade", not the step's.
func releaseCanary(rel *release.Release, app string) string {
	for _, doc := range releaseutil.SplitManifests(rel.Manifest) {
		var cm corev1.ConfigMap
		if err := sigsyaml.Unmarshal([]byte(doc), &cm); err != nil || cm.Kind != "ConfigMap" || cm.Name != renderer.StateConfigMapName(app) {
			continue
		}
		if am, err := appmesh.Decode([]byte(cm.Data[renderer.StateKey])); err == nil {
			return CanaryKey(am.Spec.Canary)
		}
	}
	return "no AppMesh"
}

// WatchUpgrades fires with the canary of every revision of store's release
// turning pending-upgrade.
func WatchUpgrades(store *canary.HelmStore) Watch {
	cl := store.Cluster
	return func(t testing.TB, fire func(string), done <-chan struct{}) {
		ctx, cancel := context.WithCancel(context.Background())
		w, err := cl.Client.CoreV1().Secrets(cl.Namespace).Watch(ctx, metav1.ListOptions{LabelSelector: "owner=helm,name=" + store.Release + ",status=" + string(release.StatusPendingUpgrade)})
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
						fire(releaseCanary(rel, cl.App))
					}
				}
			}
		}()
	}
}

// Revisions is the release history, oldest first.
func Revisions(t testing.TB, store *canary.HelmStore) []*release.Release {
	t.Helper()
	hist, err := store.Config.Releases.History(store.Release)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]*release.Release, len(hist)+1)
	for _, r := range hist {
		if r.Version < len(out) {
			out[r.Version] = r
		}
	}
	var sorted []*release.Release
	for _, r := range out {
		if r != nil {
			sorted = append(sorted, r)
		}
	}
	return sorted
}

// DescribeRevisions lists revisions as "number status description".
func DescribeRevisions(rs []*release.Release) string {
	var s []string
	for _, r := range rs {
		s = append(s, fmt.Sprintf("%d %s %q", r.Version, r.Info.Status, r.Info.Description))
	}
	return strings.Join(s, "; ")
}

// releaseState says what the release's newest revision runs.
type releaseState struct {
	pending  bool   // pending-upgrade, else deployed
	canary   string // its AppMesh's canary (CanaryKey)
	message  string // its description (a deployed step's message)
	describe string
}

func newestRelease(t testing.TB, store *canary.HelmStore) releaseState {
	t.Helper()
	rs := Revisions(t, store)
	last := rs[len(rs)-1]
	return releaseState{pending: last.Info.Status == release.StatusPendingUpgrade, canary: releaseCanary(last, store.Cluster.App), message: last.Info.Description,
		describe: fmt.Sprintf("newest revision %d %s %q", last.Version, last.Info.Status, last.Info.Description)}
}

// helmHistory is the descriptions of the release's revisions that did not
// fail (a killed upgrade's revision is marked failed), oldest first.
func helmHistory(t testing.TB, store *canary.HelmStore) []string {
	t.Helper()
	var out []string
	for _, r := range Revisions(t, store) {
		if r.Info.Status != release.StatusFailed {
			out = append(out, "revision: "+r.Info.Description)
		}
	}
	return out
}

// ExpireLease ages the app's canary lease, held by a killed command that
// can no longer renew it, by its duration: the next command takes it over
// at once, as it would after waiting the 15 s (WaitLeaseStale waits them).
func ExpireLease(t testing.TB, cl *canary.Cluster) {
	t.Helper()
	ctx := context.Background()
	l, err := cl.Client.CoordinationV1().Leases(cl.Namespace).Get(ctx, canary.LeaseName(cl.App), metav1.GetOptions{})
	if err != nil || ptr.Deref(l.Spec.HolderIdentity, "") == "" || l.Spec.RenewTime == nil {
		return
	}
	aged := metav1.NewMicroTime(time.Now().Add(-time.Duration(ptr.Deref(l.Spec.LeaseDurationSeconds, 0))*time.Second - time.Second))
	l.Spec.RenewTime = &aged
	if _, err := cl.Client.CoordinationV1().Leases(cl.Namespace).Update(ctx, l, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// LeaseStaleAt is when the app's canary lease goes stale, its holder
// having stopped renewing it (a killed command): its last renewal plus its
// duration; zero when it is free.
func LeaseStaleAt(t testing.TB, cl *canary.Cluster) time.Time {
	t.Helper()
	l, err := cl.Client.CoordinationV1().Leases(cl.Namespace).Get(context.Background(), canary.LeaseName(cl.App), metav1.GetOptions{})
	if err != nil || ptr.Deref(l.Spec.HolderIdentity, "") == "" || l.Spec.RenewTime == nil {
		return time.Time{}
	}
	return l.Spec.RenewTime.Add(time.Duration(ptr.Deref(l.Spec.LeaseDurationSeconds, 0)) * time.Second)
}

// WaitLeaseStale waits until the app's canary lease is free or its holder
// stopped renewing it for longer than its duration (a killed command).
func WaitLeaseStale(t testing.TB, cl *canary.Cluster) {
	t.Helper()
	testcluster.WaitFor(t, "the killed command's canary lease to go stale", func() bool {
		return time.Now().After(LeaseStaleAt(t, cl).Add(200 * time.Millisecond))
	})
}

// LeaseHolder is the holder of the app's canary lease ("" when free).
func LeaseHolder(t testing.TB, cl *canary.Cluster) string {
	t.Helper()
	l, err := cl.Client.CoordinationV1().Leases(cl.Namespace).Get(context.Background(), canary.LeaseName(cl.App), metav1.GetOptions{})
	if err != nil {
		return ""
	}
	return ptr.Deref(l.Spec.HolderIdentity, "")
}
