// Package multicluster links clusters into one multi-network mesh: each
// cluster's istiod gets a remote secret with read access to the other's
// API server (label istio/multiCluster: "true"), so it discovers the
// other's endpoints and routes to them through the other network's
// east-west gateway (see the gateway package, class east-west).
//
// The secret has the format of `istioctl create-remote-secret` (a
// kubeconfig for istio-reader-service-account); the tests read it with
// istiod's own secret controller code. istioctl's package itself is not
// linked: it drags viper and kubectl's describe into the binary.
package multicluster

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/meshbundle/meshbundle/failure"
	"github.com/meshbundle/meshbundle/installer"
)

// IstioNamespace is where istiod looks for remote secrets.
const IstioNamespace = "istio-system"

// SecretLabel marks remote secrets for istiod (multicluster.MultiClusterSecretLabel).
const SecretLabel = "istio/multiCluster"

// Cluster is one side of a link.
type Cluster struct {
	// Kubeconfig and Context select the cluster.
	Kubeconfig, Context string
	// Name is the cluster's name in the mesh: the installer's
	// values.global.multiCluster.clusterName. A DNS-1123 label.
	Name string
	// Server overrides the API server address written into the secret,
	// when the kubeconfig's address is not reachable from the other
	// cluster's istiod (e.g. 127.0.0.1).
	Server string
}

// Secret is one remote secret written.
type Secret struct {
	// In is the cluster the secret was written to; For the cluster whose
	// API server it gives access to.
	In, For   string
	Namespace string
	Name      string
	// Action is created or updated.
	Action string
}

// Result lists the secrets written and istioctl's warnings (e.g. an API
// server address only reachable from this machine).
type Result struct {
	Secrets  []Secret `json:"secrets"`
	Warnings []string `json:"warnings,omitempty"`
}

// Link writes, into each of a and b, the remote secret of the other.
// Re-running updates the secrets in place.
func Link(ctx context.Context, a, b Cluster) (*Result, error) {
	for _, c := range []Cluster{a, b} {
		if msgs := validation.IsDNS1123Label(c.Name); len(msgs) > 0 {
			return nil, &failure.BadInputError{Err: fmt.Errorf("cluster name %q: %s (fix: use the installer's values.global.multiCluster.clusterName of that cluster)", c.Name, strings.Join(msgs, "; "))}
		}
	}
	if a.Name == b.Name {
		return nil, &failure.BadInputError{Err: fmt.Errorf("both clusters are named %q: every cluster of a mesh needs its own values.global.multiCluster.clusterName (fix: give --from-name and --to-name each cluster's own)", a.Name)}
	}
	res := &Result{}
	for _, dir := range [][2]Cluster{{a, b}, {b, a}} {
		from, to := dir[0], dir[1]
		sec, warn, err := remoteSecret(ctx, from)
		if err != nil {
			return res, err
		}
		if warn != "" {
			res.Warnings = append(res.Warnings, fmt.Sprintf("cluster %s: %s", from.Name, warn))
		}
		action, err := apply(ctx, to, sec)
		if err != nil {
			return res, err
		}
		res.Secrets = append(res.Secrets, Secret{In: to.Name, For: from.Name, Namespace: sec.Namespace, Name: sec.Name, Action: action})
	}
	return res, nil
}

// Names and keys of istioctl create-remote-secret's output, which istiod's
// secret controller reads (pkg/kube/multicluster): the secret is named
// istio-remote-secret-<cluster>, labelled istio/multiCluster=true,
// annotated networking.istio.io/cluster=<cluster>, and holds under the key
// <cluster> a kubeconfig with the bearer token of the cluster's
// istio-reader-service-account (from a token Secret named
// <sa>-istio-remote-secret-token).
const (
	readerServiceAccount = "istio-reader-service-account"
	tokenSecretSuffix    = "-istio-remote-secret-token"
	remoteSecretPrefix   = "istio-remote-secret-"
	clusterAnnotation    = "networking.istio.io/cluster"
)

// remoteSecret builds the remote secret giving access to cluster c.
func remoteSecret(ctx context.Context, c Cluster) (*corev1.Secret, string, error) {
	cl, err := installer.Connect(installer.Options{Kubeconfig: c.Kubeconfig, Context: c.Context})
	if err != nil {
		return nil, "", err
	}
	kube := cl.Kube()
	if _, err := kube.CoreV1().ServiceAccounts(IstioNamespace).Get(ctx, readerServiceAccount, metav1.GetOptions{}); err != nil {
		return nil, "", &failure.BadInputError{Err: fmt.Errorf("cluster %s: ServiceAccount %s/%s: %w (fix: install Istio in that cluster first: meshbundle install; Istio's istiod chart creates it with read-only RBAC)",
			c.Name, IstioNamespace, readerServiceAccount, err)}
	}
	tokenName := readerServiceAccount + tokenSecretSuffix
	secrets := kube.CoreV1().Secrets(IstioNamespace)
	if _, err := secrets.Get(ctx, tokenName, metav1.GetOptions{}); apierrors.IsNotFound(err) {
		// Since Kubernetes 1.24 token Secrets are not created for
		// ServiceAccounts; ask the token controller for one, as istioctl does.
		_, err = secrets.Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: tokenName, Annotations: map[string]string{corev1.ServiceAccountNameKey: readerServiceAccount}},
			Type:       corev1.SecretTypeServiceAccountToken,
		}, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return nil, "", fmt.Errorf("cluster %s: create token secret %s/%s: %w", c.Name, IstioNamespace, tokenName, err)
		}
	} else if err != nil {
		return nil, "", fmt.Errorf("cluster %s: get token secret %s/%s: %w", c.Name, IstioNamespace, tokenName, err)
	}
	var token, ca []byte
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		s, err := secrets.Get(ctx, tokenName, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		token, ca = s.Data[corev1.ServiceAccountTokenKey], s.Data[corev1.ServiceAccountRootCAKey]
		return len(token) > 0 && len(ca) > 0, nil
	})
	if err != nil {
		return nil, "", fmt.Errorf("cluster %s: token secret %s/%s was not populated by the token controller: %w; check kube-controller-manager runs with --service-account-private-key-file", c.Name, IstioNamespace, tokenName, err)
	}
	server, warn := c.Server, ""
	if server == "" {
		server = cl.RESTConfig().Host
		if strings.Contains(server, "127.0.0.1") || strings.Contains(server, "localhost") {
			warn = fmt.Sprintf("API server address %s in the secret is only reachable from this machine; pass the address the other cluster's istiod can reach with --from-server/--to-server", server)
		}
	}
	kc := clientcmdapi.NewConfig()
	kc.Clusters[c.Name] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: ca}
	kc.AuthInfos[c.Name] = &clientcmdapi.AuthInfo{Token: string(token)}
	kc.Contexts[c.Name] = &clientcmdapi.Context{Cluster: c.Name, AuthInfo: c.Name}
	kc.CurrentContext = c.Name
	if err := clientcmd.Validate(*kc); err != nil {
		return nil, "", fmt.Errorf("cluster %s: kubeconfig for the remote secret: %w", c.Name, err)
	}
	data, err := clientcmd.Write(*kc)
	if err != nil {
		return nil, "", err
	}
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name: remoteSecretPrefix + c.Name, Namespace: IstioNamespace,
			Labels:      map[string]string{SecretLabel: "true"},
			Annotations: map[string]string{clusterAnnotation: c.Name},
		},
		Data: map[string][]byte{c.Name: data},
	}, warn, nil
}

// apply creates or updates the secret in cluster c.
func apply(ctx context.Context, c Cluster, sec *corev1.Secret) (string, error) {
	cl, err := installer.Connect(installer.Options{Kubeconfig: c.Kubeconfig, Context: c.Context})
	if err != nil {
		return "", err
	}
	if err := cl.EnsureNamespace(ctx, sec.Namespace, "cluster-link"); err != nil {
		return "", err
	}
	secrets := cl.Kube().CoreV1().Secrets(sec.Namespace)
	old, err := secrets.Get(ctx, sec.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		if _, err := secrets.Create(ctx, sec, metav1.CreateOptions{}); err != nil {
			return "", fmt.Errorf("cluster %s: create secret %s/%s: %w", c.Name, sec.Namespace, sec.Name, err)
		}
		return "created", nil
	case err != nil:
		return "", fmt.Errorf("cluster %s: get secret %s/%s: %w", c.Name, sec.Namespace, sec.Name, err)
	}
	sec.ResourceVersion = old.ResourceVersion
	if _, err := secrets.Update(ctx, sec, metav1.UpdateOptions{}); err != nil {
		return "", fmt.Errorf("cluster %s: update secret %s/%s: %w", c.Name, sec.Namespace, sec.Name, err)
	}
	return "updated", nil
}
