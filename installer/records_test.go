package installer

import (
	"context"
	"encoding/json"
	"maps"
	"testing"

	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage/driver"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
)

// secretStore hands Helm's Secrets driver one Secret to read and keeps the
// one it writes: the only calls these tests make (any other panics on the
// nil interface).
type secretStore struct {
	corev1client.SecretInterface
	stored *corev1.Secret
}

func (s *secretStore) Create(_ context.Context, o *corev1.Secret, _ metav1.CreateOptions) (*corev1.Secret, error) {
	s.stored = o.DeepCopy()
	return o, nil
}

func (s *secretStore) Update(_ context.Context, o *corev1.Secret, _ metav1.UpdateOptions) (*corev1.Secret, error) {
	s.stored = o.DeepCopy()
	return o, nil
}

func (s *secretStore) Get(_ context.Context, name string, _ metav1.GetOptions) (*corev1.Secret, error) {
	return s.stored.DeepCopy(), nil
}

// TestReleaseSecretsLikeHelm: releaseSecrets writes the Secret Helm's own
// driver writes (name, type, labels, the one data key) and Helm's driver
// reads the record back as it was, for the largest records meshbundle
// writes (istio-base's, the Gateway API CRDs'), on create and update; and
// the record is smaller than Helm's limit of a Secret with room to spare.
func TestReleaseSecretsLikeHelm(t *testing.T) {
	plan, err := NewPlan(Source{NoGateway: true, NoAddons: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, rel := range plan.releasesIn(PhaseBase) {
		rls := recorded(t, rel, map[string]string{RenderDigestLabel: "d"})
		rls.Version, rls.Info.Status = 3, release.StatusDeployed
		key := "sh.helm.release.v1." + rls.Name + ".v3"
		for _, op := range []string{"create", "update"} {
			helms, ours := &secretStore{}, &secretStore{}
			hd := driver.NewSecrets(helms)
			od := &releaseSecrets{Secrets: driver.NewSecrets(ours), impl: ours}
			write := map[string]func(driver.Driver) error{
				"create": func(d driver.Driver) error { return d.Create(key, rls) },
				"update": func(d driver.Driver) error { return d.Update(key, rls) },
			}[op]
			if err := write(hd); err != nil {
				t.Fatal(err)
			}
			if err := write(od); err != nil {
				t.Fatal(err)
			}
			h, o := helms.stored, ours.stored
			if o.Name != h.Name || o.Type != h.Type || len(o.Data) != 1 || o.Data["release"] == nil {
				t.Errorf("%s %s: Secret %s type %s data keys %v, Helm's %s type %s", rel.Name, op, o.Name, o.Type, slicesOfKeys(o.Data), h.Name, h.Type)
			}
			// The same labels; the time stamp (createdAt or modifiedAt)
			// present in both, its value the second each was written.
			stamp := map[string]string{"create": "createdAt", "update": "modifiedAt"}[op]
			ol, hl := maps.Clone(o.Labels), maps.Clone(h.Labels)
			if ol[stamp] == "" || hl[stamp] == "" {
				t.Errorf("%s %s: label %s %q, Helm's %q", rel.Name, op, stamp, ol[stamp], hl[stamp])
			}
			delete(ol, stamp)
			delete(hl, stamp)
			if !maps.Equal(ol, hl) {
				t.Errorf("%s %s: labels %v, Helm's %v", rel.Name, op, o.Labels, h.Labels)
			}
			back, err := driver.NewSecrets(&secretStore{stored: o}).Get(key)
			if err != nil {
				t.Fatalf("%s %s: Helm's driver cannot read the record: %v", rel.Name, op, err)
			}
			want, _ := json.Marshal(rls)
			got, _ := json.Marshal(back)
			if string(got) != string(want) || !maps.Equal(back.Labels, rls.Labels) {
				t.Errorf("%s %s: Helm's driver reads back another record (labels %v)", rel.Name, op, back.Labels)
			}
			if n := len(o.Data["release"]); n > 900_000 {
				t.Errorf("%s: record of %d bytes, near the 1 MiB a Secret may hold", rel.Name, n)
			}
			t.Logf("%s: %d bytes, Helm's %d", rel.Name, len(o.Data["release"]), len(h.Data["release"]))
		}
	}
}

func slicesOfKeys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
