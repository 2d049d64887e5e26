package installer

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"strconv"
	"time"

	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage/driver"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
)

// releaseSecrets is Helm's Secrets storage driver (release records as
// Secrets of type helm.sh/release.v1, read by helm and every Helm SDK user
// as usual) writing records gzip'ed at the default level instead of Helm's
// best compression. Helm compresses every record it writes (an install
// writes two, an upgrade three) at level 9, which on istio-base's and the
// Gateway API CRDs' records (2.2 and 2.8 MB of JSON) took 0.6 and 1 s of
// CPU each, a third of an install's CPU, for records 1-2.5 % smaller than
// level 6 makes them in a tenth of the time. Reading, listing and deleting
// are Helm's; the record is Helm's encoding (JSON, gzip, base64) with
// Helm's labels (TestReleaseSecretsLikeHelm).
type releaseSecrets struct {
	*driver.Secrets
	impl corev1client.SecretInterface
}

// Create stores a new record, as driver.Secrets.Create.
func (s *releaseSecrets) Create(key string, rls *release.Release) error {
	obj, err := releaseSecret(key, rls, "createdAt")
	if err != nil {
		return fmt.Errorf("create: failed to encode release %q: %w", rls.Name, err)
	}
	if _, err := s.impl.Create(context.Background(), obj, metav1.CreateOptions{}); err != nil {
		if apierrors.IsAlreadyExists(err) {
			return driver.ErrReleaseExists
		}
		return fmt.Errorf("create: failed to create: %w", err)
	}
	return nil
}

// Update replaces a record, as driver.Secrets.Update.
func (s *releaseSecrets) Update(key string, rls *release.Release) error {
	obj, err := releaseSecret(key, rls, "modifiedAt")
	if err != nil {
		return fmt.Errorf("update: failed to encode release %q: %w", rls.Name, err)
	}
	if _, err := s.impl.Update(context.Background(), obj, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("update: failed to update: %w", err)
	}
	return nil
}

// releaseSecret is the Secret Helm's driver writes for rls (its
// newSecretsObject), stamped with the Unix time under stamp.
func releaseSecret(key string, rls *release.Release, stamp string) (*corev1.Secret, error) {
	b, err := json.Marshal(rls)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	if _, err := w.Write(b); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	labels := maps.Clone(rls.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	labels[stamp] = strconv.FormatInt(time.Now().Unix(), 10)
	labels["name"], labels["owner"] = rls.Name, "helm"
	labels["status"], labels["version"] = rls.Info.Status.String(), strconv.Itoa(rls.Version)
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: key, Labels: labels},
		Type:       "helm.sh/release.v1",
		Data:       map[string][]byte{"release": []byte(base64.StdEncoding.EncodeToString(buf.Bytes()))},
	}, nil
}
